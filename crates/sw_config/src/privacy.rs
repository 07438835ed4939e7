//! `[privacy]` and each camera's privacy keys: the resolution ceiling, masks, zones and
//! evidence images.
//!
//! Owns: parsing those keys into sw_privacy's validated types ([`Polygon`], [`ZoneSpec`],
//! [`CeilingCheck`], [`EvidenceKind`]) and putting the file, line and key in front of their
//! errors. Does not own: the rules themselves (sw_privacy) or applying them (sw_service).

use std::path::PathBuf;

use sw_core::CameraId;
use sw_privacy::{CeilingCheck, CeilingVerdict, EvidenceKind, EvidenceOptions, Polygon, ZoneSpec};
use toml::Spanned;

use crate::raw;
use crate::validate::{ConfigError, Context};

/// `[privacy]`: settings for every camera.
#[derive(Debug, Clone, PartialEq)]
pub struct PrivacyConfig {
    pub ceiling: CeilingCheck,
    /// Where opt-in evidence images go (`<dir>/<camera>/...`); relative to the config file.
    pub evidence_dir: Option<PathBuf>,
    /// Evidence images older than this many days are deleted (and the deletion audited).
    pub retention_days: u32,
}

/// One camera's privacy settings, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraPrivacy {
    /// Width in metres of the watched area; gives the pixel density.
    pub scene_width_m: Option<f64>,
    /// Blanked in every analysis frame before the detector sees it.
    pub masks: Vec<Polygon>,
    /// Named areas events report touching.
    pub zones: Vec<ZoneSpec>,
    /// `None`: no evidence images (the default).
    pub evidence: Option<EvidenceOptions>,
    /// How the camera passed the ceiling; audited when it relied on a raised limit.
    pub ceiling: CeilingVerdict,
}

pub(crate) fn privacy(
    raw: &raw::Privacy,
    audit_dir: Option<&std::path::Path>,
    context: &Context<'_>,
) -> Result<PrivacyConfig, ConfigError> {
    let default = CeilingCheck::default();
    let ceiling = CeilingCheck {
        max_pixels_per_metre: context.in_range(
            "privacy.max_pixels_per_metre",
            &raw.max_pixels_per_metre,
            f64::MIN_POSITIVE,
            sw_privacy::RECOGNITION_PIXELS_PER_METRE,
            default.max_pixels_per_metre,
        )?,
        max_width_without_scene_pixels: context.in_range(
            "privacy.max_width_without_scene",
            &raw.max_width_without_scene,
            1,
            1920,
            default.max_width_without_scene_pixels,
        )?,
        override_reason: raw
            .ceiling_override_reason
            .as_ref()
            .map(|reason| reason.get_ref().clone()),
    };
    if let Err(error) = ceiling.validate() {
        let span = [
            raw.ceiling_override_reason.as_ref().map(Spanned::span),
            raw.max_pixels_per_metre.as_ref().map(Spanned::span),
            raw.max_width_without_scene.as_ref().map(Spanned::span),
        ]
        .into_iter()
        .flatten()
        .next()
        .unwrap_or_default();
        return Err(context.invalid("privacy", span, error));
    }
    let evidence_dir = raw
        .evidence_dir
        .as_ref()
        .map(|dir| (dir.span(), context.base_dir().join(dir.get_ref())));
    if let (Some((span, evidence)), Some(audit)) = (&evidence_dir, audit_dir)
        && (evidence.starts_with(audit) || audit.starts_with(evidence))
    {
        return Err(context.invalid(
            "privacy.evidence_dir",
            span.clone(),
            "must not be, contain or lie inside audit.dir: retention deletes old files there",
        ));
    }
    Ok(PrivacyConfig {
        ceiling,
        evidence_dir: evidence_dir.map(|(_, dir)| dir),
        retention_days: context.in_range(
            "privacy.retention_days",
            &raw.retention_days,
            1,
            3650,
            30,
        )?,
    })
}

/// A camera's privacy keys (`context` is scoped to the camera), checked against the ceiling at
/// its resolved analysis `width`.
pub(crate) fn camera(
    raw: &raw::Camera,
    id: &CameraId,
    width: u32,
    privacy: &PrivacyConfig,
    context: &Context<'_>,
) -> Result<CameraPrivacy, ConfigError> {
    let scene_width_m = match &raw.scene_width_m {
        None => None,
        Some(_) => {
            Some(context.in_range("scene_width_m", &raw.scene_width_m, 0.01, 10_000.0, 1.0)?)
        }
    };
    let polygon = |key: &str, points: &Spanned<Vec<[f64; 2]>>| {
        Polygon::new(points.get_ref().clone())
            .map_err(|error| context.invalid(key, points.span(), error))
    };
    let masks = raw
        .masks
        .iter()
        .enumerate()
        .map(|(index, points)| polygon(&format!("masks[{index}]"), points))
        .collect::<Result<Vec<_>, _>>()?;
    let mut zones = Vec::with_capacity(raw.zones.len());
    for (index, zone) in raw.zones.iter().enumerate() {
        let key = format!("zones[{index}]");
        let fields = zone.get_ref();
        let Some(points) = &fields.polygon else {
            return Err(context.invalid(&format!("{key}.polygon"), zone.span(), "missing"));
        };
        let name = fields.name.as_ref().map_or("", |name| name.get_ref());
        let spec = ZoneSpec::new(
            name,
            polygon(&format!("{key}.polygon"), points)?,
            context.in_range(
                &format!("{key}.sensitivity"),
                &fields.sensitivity,
                f64::MIN_POSITIVE,
                1.0,
                sw_privacy::DEFAULT_SENSITIVITY,
            )?,
            context.in_range(
                &format!("{key}.min_area_fraction"),
                &fields.min_area_fraction,
                0.0,
                1.0,
                sw_privacy::DEFAULT_MIN_AREA_FRACTION,
            )?,
        )
        .map_err(|error| context.invalid(&format!("{key}.name"), zone.span(), error))?;
        zones.push(spec);
    }
    if let Err(error) = sw_privacy::check_unique_names(&zones) {
        let span = raw.zones.last().map(Spanned::span).unwrap_or_default();
        return Err(context.invalid("zones", span, error));
    }
    let width_span = raw
        .width
        .as_ref()
        .map(Spanned::span)
        .or_else(|| raw.scene_width_m.as_ref().map(Spanned::span))
        .or_else(|| raw.id.as_ref().map(Spanned::span))
        .unwrap_or_default();
    let ceiling = privacy
        .ceiling
        .check(id, width, scene_width_m)
        .map_err(|error| context.invalid("width", width_span.clone(), error))?;
    let evidence = match raw
        .evidence
        .as_ref()
        .map(|value| (value.span(), *value.get_ref()))
    {
        None | Some((_, raw::Evidence::Off)) => None,
        Some((span, kind)) => {
            let kind = match kind {
                raw::Evidence::Silhouette => EvidenceKind::Silhouette,
                _ => EvidenceKind::Pixelated {
                    block_pixels: context.in_range(
                        "evidence_block_pixels",
                        &raw.evidence_block_pixels,
                        2,
                        64,
                        sw_privacy::DEFAULT_BLOCK_PIXELS,
                    )?,
                },
            };
            kind.check(
                id,
                width,
                scene_width_m,
                privacy.ceiling.max_pixels_per_metre,
            )
            .map_err(|error| context.invalid("evidence", span.clone(), error))?;
            let Some(dir) = &privacy.evidence_dir else {
                return Err(context.invalid(
                    "evidence",
                    span,
                    "evidence images need a folder: set privacy.evidence_dir",
                ));
            };
            Some(EvidenceOptions {
                dir: dir.clone(),
                camera: id.clone(),
                kind,
                scene_width_m,
                max_pixels_per_metre: privacy.ceiling.max_pixels_per_metre,
            })
        }
    };
    Ok(CameraPrivacy {
        scene_width_m,
        masks,
        zones,
        evidence,
        ceiling,
    })
}

#[cfg(test)]
mod tests {
    use crate::{Config, Source};

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Source::File("site.toml".into())).map_err(|error| error.to_string())
    }

    const CAMERA: &str = "[[cameras]]\nid = \"gate\"\nurl = \"rtsp://192.0.2.1/s\"\n";

    #[test]
    fn masks_zones_and_the_ceiling_are_read() {
        let config = parse(&format!(
            "{CAMERA}scene_width_m = 14\nmasks = [[[0, 0], [0.3, 0], [0.3, 0.4]]]\n\
             [[cameras.zones]]\nname = \"gate\"\npolygon = [[0.4, 0.3], [0.6, 0.3], [0.6, 0.9]]\n\
             sensitivity = 0.02\n"
        ))
        .unwrap();
        let privacy = &config.cameras[0].privacy;
        assert_eq!(privacy.masks.len(), 1);
        assert_eq!(privacy.zones[0].name(), "gate");
        let density = privacy.ceiling.pixels_per_metre.unwrap();
        assert!((density - 320.0 / 14.0).abs() < 1e-9, "{density}");
        assert!(!privacy.ceiling.is_override());
    }

    #[test]
    fn errors_name_the_camera_key_line_and_numbers() {
        let cases: &[(&str, &str)] = &[
            (
                "width = 640\nscene_width_m = 10\n",
                "site.toml:4: cameras[0].width: camera gate: analysis width 640 px over a 10 m wide scene is 64 px/m, above the ceiling of 25 px/m",
            ),
            (
                "width = 640\n",
                "site.toml:4: cameras[0].width: camera gate: analysis width 640 px is above 320 px",
            ),
            (
                "masks = [[[0, 0], [1.2, 0.1], [0.3, 0.4]]]\n",
                "site.toml:4: cameras[0].masks[0]: point 2",
            ),
            (
                "evidence = \"silhouette\"\n",
                "site.toml:4: cameras[0].evidence: evidence images need a folder",
            ),
        ];
        for (extra, expected) in cases {
            let error = parse(&format!("{CAMERA}{extra}")).unwrap_err();
            assert!(
                error.starts_with(expected),
                "for {extra:?}\n  got:      {error}\n  expected: {expected}"
            );
        }
        let raised = parse("[privacy]\nmax_pixels_per_metre = 30\n").unwrap_err();
        assert!(
            raised.starts_with("site.toml:2: privacy: ")
                && raised.contains("ceiling_override_reason"),
            "{raised}"
        );
    }

    #[test]
    fn a_raised_ceiling_with_a_reason_passes_and_is_marked_for_the_audit_log() {
        let config = parse(&format!(
            "[privacy]\nmax_pixels_per_metre = 70\nceiling_override_reason = \"loading dock, DPIA 4\"\n\
             {CAMERA}width = 640\nscene_width_m = 10\n"
        ))
        .unwrap();
        assert!(config.cameras[0].privacy.ceiling.is_override());
    }
}
