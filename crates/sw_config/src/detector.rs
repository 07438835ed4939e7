//! Validation of `[detector]` and `[events]` into `sw_motion`'s option structs.
//!
//! Owns: the ranges of the detector's keys. Does not own: their defaults (taken from
//! `sw_motion`'s `Default` impls, so they are written once) or their meaning (documented on the
//! option fields and in `configs/README.md`).

use sw_motion::{DetectorOptions, EventOptions};

use crate::raw;
use crate::validate::{ConfigError, Context};

const HOUR_MILLIS: u64 = 3_600_000;

pub(crate) fn detector(
    raw: &raw::Detector,
    context: &Context<'_>,
) -> Result<DetectorOptions, ConfigError> {
    let default = DetectorOptions::default();
    let samples_per_pixel = context.in_range(
        "detector.samples_per_pixel",
        &raw.samples_per_pixel,
        2,
        64,
        default.samples_per_pixel,
    )?;
    let min_matches = context.in_range(
        "detector.min_matches",
        &raw.min_matches,
        1,
        64,
        default.min_matches,
    )?;
    if let Some(value) = &raw.min_matches {
        context.check(
            "detector.min_matches",
            value,
            usize::from(min_matches) <= samples_per_pixel,
            &format!("must not exceed detector.samples_per_pixel ({samples_per_pixel})"),
        )?;
    }
    let cleanup_radius_pixels = context.in_range(
        "detector.cleanup_radius_pixels",
        &raw.cleanup_radius_pixels,
        0,
        7,
        default.cleanup_radius_pixels,
    )?;
    let box_pixels = (2 * u16::from(cleanup_radius_pixels) + 1).pow(2);
    let cleanup_min_votes = context.in_range(
        "detector.cleanup_min_votes",
        &raw.cleanup_min_votes,
        1,
        225,
        default.cleanup_min_votes,
    )?;
    if let Some(value) = &raw.cleanup_min_votes {
        context.check(
            "detector.cleanup_min_votes",
            value,
            u16::from(cleanup_min_votes) <= box_pixels,
            &format!(
                "must not exceed the clean-up square's {box_pixels} pixels \
                 (side 2 * detector.cleanup_radius_pixels + 1)"
            ),
        )?;
    }
    Ok(DetectorOptions {
        samples_per_pixel,
        match_radius_luma: context.in_range(
            "detector.match_radius_luma",
            &raw.match_radius_luma,
            1,
            255,
            default.match_radius_luma,
        )?,
        min_matches,
        update_subsampling: context.in_range(
            "detector.update_subsampling",
            &raw.update_subsampling,
            1,
            1024,
            default.update_subsampling,
        )?,
        propagation_enabled: raw
            .propagation_enabled
            .unwrap_or(default.propagation_enabled),
        seed: raw
            .seed
            .as_ref()
            .map_or(default.seed, |seed| *seed.get_ref()),
        flicker_increment: context.in_range(
            "detector.flicker_increment",
            &raw.flicker_increment,
            0,
            255,
            default.flicker_increment,
        )?,
        flicker_decrement: context.in_range(
            "detector.flicker_decrement",
            &raw.flicker_decrement,
            1,
            255,
            default.flicker_decrement,
        )?,
        flicker_max_extra_radius_luma: context.in_range(
            "detector.flicker_max_extra_radius_luma",
            &raw.flicker_max_extra_radius_luma,
            0,
            255,
            default.flicker_max_extra_radius_luma,
        )?,
        absorb_after_frames: context.in_range(
            "detector.absorb_after_frames",
            &raw.absorb_after_frames,
            0,
            u16::MAX,
            default.absorb_after_frames,
        )?,
        ghost_after_frames: context.in_range(
            "detector.ghost_after_frames",
            &raw.ghost_after_frames,
            0,
            u16::MAX,
            default.ghost_after_frames,
        )?,
        cleanup_radius_pixels,
        cleanup_min_votes,
        max_hole_area_pixels: context.in_range(
            "detector.max_hole_area_pixels",
            &raw.max_hole_area_pixels,
            0,
            1920 * 1080,
            default.max_hole_area_pixels,
        )?,
        min_blob_area_pixels: context.in_range(
            "detector.min_blob_area_pixels",
            &raw.min_blob_area_pixels,
            1,
            1920 * 1080,
            default.min_blob_area_pixels,
        )?,
        grid_cols: context.in_range(
            "detector.grid_cols",
            &raw.grid_cols,
            1,
            64,
            default.grid_cols,
        )?,
        grid_rows: context.in_range(
            "detector.grid_rows",
            &raw.grid_rows,
            1,
            64,
            default.grid_rows,
        )?,
        max_shift_pixels: context.in_range(
            "detector.max_shift_pixels",
            &raw.max_shift_pixels,
            0,
            64,
            default.max_shift_pixels,
        )?,
        brightness_compensation: raw
            .brightness_compensation
            .unwrap_or(default.brightness_compensation),
        shading_suppression: raw
            .shading_suppression
            .unwrap_or(default.shading_suppression),
        noise_radius_sixteenths: context.in_range(
            "detector.noise_radius_sixteenths",
            &raw.noise_radius_sixteenths,
            0,
            255,
            default.noise_radius_sixteenths,
        )?,
        strip_threads: context.in_range(
            "detector.strip_threads",
            &raw.strip_threads,
            1,
            64,
            default.strip_threads,
        )?,
    })
}

pub(crate) fn events(
    raw: &raw::Events,
    context: &Context<'_>,
) -> Result<EventOptions, ConfigError> {
    let default = EventOptions::default();
    let start_score_fraction = context.fraction(
        "events.start_score_fraction",
        &raw.start_score_fraction,
        default.start_score_fraction,
    )?;
    let end_score_fraction = context.fraction(
        "events.end_score_fraction",
        &raw.end_score_fraction,
        default.end_score_fraction,
    )?;
    if let Some(value) = raw
        .end_score_fraction
        .as_ref()
        .or(raw.start_score_fraction.as_ref())
    {
        context.check(
            "events.end_score_fraction",
            value,
            end_score_fraction <= start_score_fraction,
            &format!("must not exceed events.start_score_fraction ({start_score_fraction})"),
        )?;
    }
    Ok(EventOptions {
        start_score_fraction,
        end_score_fraction,
        min_duration_millis: context.in_range(
            "events.min_duration_millis",
            &raw.min_duration_millis,
            0,
            HOUR_MILLIS,
            default.min_duration_millis,
        )?,
        cooldown_millis: context.in_range(
            "events.cooldown_millis",
            &raw.cooldown_millis,
            0,
            HOUR_MILLIS,
            default.cooldown_millis,
        )?,
        update_interval_millis: context.in_range(
            "events.update_interval_millis",
            &raw.update_interval_millis,
            0,
            HOUR_MILLIS,
            default.update_interval_millis,
        )?,
        max_boxes: context.in_range(
            "events.max_boxes",
            &raw.max_boxes,
            0,
            64,
            default.max_boxes,
        )?,
    })
}

#[cfg(test)]
mod tests {
    use crate::{Config, Source};

    fn error(text: &str) -> String {
        Config::parse(text, Source::File("cam.toml".into()))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn detector_keys_map_onto_the_options() {
        let config = Config::parse(
            "[detector]\nsamples_per_pixel = 20\nmatch_radius_luma = 14\npropagation_enabled = false\n\
             [events]\ncooldown_millis = 500\nstart_score_fraction = 0.01\n",
            Source::BuiltIn,
        )
        .unwrap();
        assert_eq!(config.detector.samples_per_pixel, 20);
        assert_eq!(config.detector.match_radius_luma, 14);
        assert!(!config.detector.propagation_enabled);
        assert_eq!(config.events.cooldown_millis, 500);
        assert_eq!(config.events.start_score_fraction, 0.01);
        assert_eq!(
            config.detector.min_matches,
            sw_motion::DetectorOptions::default().min_matches
        );
    }

    #[test]
    fn cross_key_rules_name_the_key_and_line() {
        let cases: &[(&str, &str)] = &[
            (
                "[detector]\nsamples_per_pixel = 4\nmin_matches = 5\n",
                "cam.toml:3: detector.min_matches: must not exceed detector.samples_per_pixel (4)",
            ),
            (
                "[events]\nstart_score_fraction = 0.01\nend_score_fraction = 0.02\n",
                "cam.toml:3: events.end_score_fraction: must not exceed events.start_score_fraction (0.01)",
            ),
            (
                "[events]\nstart_score_fraction = 1.5\n",
                "cam.toml:2: events.start_score_fraction: must be between 0 and 1, got 1.5",
            ),
            (
                "[detector]\ncleanup_radius_pixels = 1\ncleanup_min_votes = 10\n",
                "cam.toml:3: detector.cleanup_min_votes: must not exceed the clean-up square's 9 pixels (side 2 * detector.cleanup_radius_pixels + 1)",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(&error(text), expected, "for {text:?}");
        }
    }
}
