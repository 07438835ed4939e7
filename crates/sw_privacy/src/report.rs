//! The privacy report: a document a data protection officer can attach to a DPIA, saying per
//! camera what Stillwatch processes, what leaves it, how long anything is kept, and what it
//! never collects.
//!
//! Owns: the report's inputs ([`ReportInput`], plain structs the caller fills from its
//! validated config), its content (built once, as a list of blocks) and its two renderings:
//! self-contained, printable HTML with masks and zones drawn as inline SVG over the frame
//! outline, and Markdown.
//! Does not own: reading the config, choosing file names or the current time (an input:
//! the report never reads the clock, so the same input gives the same bytes).
//!
//! The report never contains a camera image, and no rendering references anything outside the
//! document (no scripts, fonts, stylesheets or images to fetch).

use std::fmt::Write as _;

use sw_core::CameraId;

use crate::ceiling::{CeilingCheck, CeilingVerdict, DETECTION_PIXELS_PER_METRE, number};
use crate::evidence::EvidenceKind;
use crate::mask::PrivacyMask;
use crate::polygon::Polygon;
use crate::zones::{ZoneSpec, Zones};

/// Everything the report shows. Fill it from the validated config; never put a secret, or a
/// URL with credentials or a query string, in any of these strings.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportInput {
    /// What the report is about: a site name or the config file's name.
    pub title: String,
    /// When the report was made, written as given; `None` leaves it out.
    pub generated: Option<String>,
    /// SHA-256 of the canonical config, as the audit log records it at every config load.
    pub config_sha256: Option<String>,
    pub ceiling: CeilingCheck,
    /// Days evidence images and rotated event files are kept; `None`: until deleted by hand.
    pub retention_days: Option<u32>,
    pub audit: AuditSummary,
    pub cameras: Vec<CameraInput>,
    /// The ONNX graphs the cameras with `detector.backend = "onnx"` run (empty when every
    /// camera runs the built-in detector).
    pub graphs: Vec<GraphSummary>,
}

/// One ONNX graph of the detector, as its manifest pins it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphSummary {
    pub name: String,
    /// The file, as found (a path, never a secret).
    pub file: String,
    pub sha256: String,
}

/// The audit log's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditSummary {
    pub enabled: bool,
    /// Checkpoints are signed with an Ed25519 key.
    pub signed_checkpoints: bool,
}

/// One camera as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraInput {
    pub id: CameraId,
    pub enabled: bool,
    pub width: u32,
    /// `None`: the source's aspect ratio (the drawing then assumes 16:9).
    pub height: Option<u32>,
    pub fps: f64,
    pub scene_width_m: Option<f64>,
    pub masks: Vec<Polygon>,
    pub zones: Vec<ZoneSpec>,
    /// `None`: evidence images are off.
    pub evidence: Option<EvidenceKind>,
    /// The motion grid in every event: columns and rows.
    pub grid_cols: u16,
    pub grid_rows: u16,
    /// True when the camera's per-pixel detector step runs as the ONNX graphs.
    pub onnx: bool,
    pub outputs: Outputs,
}

/// Where a camera's events go. Hosts and paths only: no credentials, tokens or queries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outputs {
    /// The JSON Lines events file, or "standard output".
    pub events_file: Option<String>,
    /// MQTT broker `host:port` (and topic prefix).
    pub mqtt: Option<String>,
    /// Webhook hosts.
    pub webhooks: Vec<String>,
    /// The HTTP status API's listen address.
    pub http_api: Option<String>,
}

/// A rendered-once report: build it, then render HTML or Markdown.
#[derive(Debug, Clone)]
pub struct PrivacyReport {
    title: String,
    blocks: Vec<Block>,
}

/// One piece of the document, rendered by both formats.
#[derive(Debug, Clone, PartialEq)]
enum Block {
    Heading(u8, String),
    Paragraph(String),
    Warning(String),
    List(Vec<String>),
    /// Label–value pairs.
    Facts(Vec<(String, String)>),
    Table {
        header: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    /// An SVG drawing (built escaped) and its caption; HTML only, Markdown gives the caption.
    Figure {
        svg: String,
        caption: String,
    },
}

/// A face is about this wide, in metres: what "recognisable" needs pixels of.
const FACE_WIDTH_M: f64 = 0.16;
/// A person's shoulders are about this wide, in metres.
const PERSON_WIDTH_M: f64 = 0.5;
/// Width of the drawings in the HTML, CSS pixels.
const DRAWING_WIDTH: u32 = 480;

impl PrivacyReport {
    pub fn new(input: &ReportInput) -> Self {
        let views: Vec<CameraView<'_>> = input
            .cameras
            .iter()
            .map(|camera| CameraView::new(input, camera))
            .collect();
        let mut blocks = Vec::new();
        intro(input, &views, &mut blocks);
        for view in &views {
            camera_section(input, view, &mut blocks);
        }
        closing(input, &mut blocks);
        Self {
            title: input.title.clone(),
            blocks,
        }
    }

    /// A self-contained HTML document: inline CSS and SVG only, printable.
    pub fn render_html(&self) -> String {
        let mut out = String::new();
        out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        out.push_str(&format!(
            "<title>Privacy report: {}</title>\n",
            escape_html(&self.title)
        ));
        out.push_str(STYLE);
        out.push_str("</head>\n<body>\n");
        for block in &self.blocks {
            html_block(block, &mut out);
        }
        out.push_str("</body>\n</html>\n");
        out
    }

    /// The same content as Markdown (drawings left out: their captions say so).
    pub fn render_markdown(&self) -> String {
        let mut out = String::new();
        for block in &self.blocks {
            markdown_block(block, &mut out);
            out.push('\n');
        }
        out
    }
}

const STYLE: &str = "<style>
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:62rem;margin:2rem auto;padding:0 1rem;color:#111;line-height:1.45}
h1{font-size:1.6rem}h2{font-size:1.3rem;margin-top:2rem;border-bottom:1px solid #999}h3{font-size:1.1rem}
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #999;padding:.2rem .5rem;text-align:left;vertical-align:top}
th{background:#eee}.warning{border-left:4px solid #a40;padding:.2rem .6rem;background:#fff4ec}
figure{margin:.8rem 0}figcaption{font-size:.9rem;color:#333}svg{max-width:100%;height:auto}
section{break-inside:avoid}
@media print{body{margin:0;max-width:none}h2{break-after:avoid}figure,table{break-inside:avoid}}
</style>
";

fn intro(input: &ReportInput, views: &[CameraView<'_>], blocks: &mut Vec<Block>) {
    blocks.push(Block::Heading(
        1,
        format!("Privacy report: {}", input.title),
    ));
    blocks.push(Block::Paragraph(
        "Stillwatch detects motion in camera video and nothing else. This report, generated \
         from its configuration, says for each camera what Stillwatch processes, what leaves \
         it, how long anything is kept, and what it never collects. It contains no camera image."
            .to_owned(),
    ));
    let mut facts = Vec::new();
    if let Some(generated) = &input.generated {
        facts.push(("Generated".to_owned(), generated.clone()));
    }
    if let Some(hash) = &input.config_sha256 {
        facts.push(("Configuration SHA-256".to_owned(), hash.clone()));
    }
    let enabled = input.cameras.iter().filter(|c| c.enabled).count();
    facts.push((
        "Cameras".to_owned(),
        format!("{} ({enabled} enabled)", input.cameras.len()),
    ));
    blocks.push(Block::Facts(facts));

    blocks.push(Block::Heading(2, "Summary".to_owned()));
    let rows = views
        .iter()
        .map(|view| {
            let camera = view.camera;
            vec![
                camera.id.to_string(),
                format!(
                    "{} × {} px grey, {} fps",
                    camera.width,
                    view.height_text(),
                    number(camera.fps, 2)
                ),
                view.density_text(),
                view.level_text(),
                format!("{}%", number(view.mask.covered_fraction() * 100.0, 1)),
                camera.zones.len().to_string(),
                evidence_text(camera.evidence),
            ]
        })
        .collect();
    blocks.push(Block::Table {
        header: [
            "Camera",
            "Analysis frame",
            "Pixel density",
            "EN 62676-4 level",
            "Masked",
            "Zones",
            "Evidence images",
        ]
        .map(str::to_owned)
        .to_vec(),
        rows,
    });

    blocks.push(Block::Heading(2, "Resolution ceiling".to_owned()));
    let ceiling = &input.ceiling;
    blocks.push(Block::Paragraph(format!(
        "Each camera is analysed at a pixel density no higher than {} px/m. Density is the \
         analysis width in pixels over the width of the watched scene in metres. EN 62676-4 \
         (DORI) rates densities: detection from 25 px/m (a person can be seen to be there), \
         observation from 62.5, recognition from 125 and identification from 250. At 25 px/m a \
         face 16 cm wide is 4 pixels wide. A camera whose scene width is not given may be at \
         most {} px wide.",
        number(ceiling.max_pixels_per_metre, 1),
        ceiling.max_width_without_scene_pixels
    )));
    if let Some(reason) = &ceiling.override_reason {
        blocks.push(Block::Warning(format!(
            "The limits are raised above their defaults (25 px/m, 320 px) for this reason, \
             recorded in the audit log for every camera that relies on it: {reason}"
        )));
    }
}

/// What the report computes for one camera.
struct CameraView<'a> {
    camera: &'a CameraInput,
    /// The height drawn: the configured one, or 16:9.
    height: u32,
    verdict: Result<CeilingVerdict, String>,
    mask: PrivacyMask,
    zones: Zones,
}

impl<'a> CameraView<'a> {
    fn new(input: &ReportInput, camera: &'a CameraInput) -> Self {
        let height = camera
            .height
            .unwrap_or_else(|| (camera.width * 9).div_ceil(16).max(1));
        let mask = PrivacyMask::new(&camera.masks, camera.width as usize, height as usize);
        let zones = Zones::new(&camera.zones, &mask);
        let verdict = input
            .ceiling
            .check(&camera.id, camera.width, camera.scene_width_m)
            .map_err(|error| error.to_string());
        Self {
            camera,
            height,
            verdict,
            mask,
            zones,
        }
    }

    fn density(&self) -> Option<f64> {
        self.camera
            .scene_width_m
            .map(|scene| crate::pixels_per_metre(self.camera.width, scene))
    }

    fn height_text(&self) -> String {
        match self.camera.height {
            Some(height) => height.to_string(),
            None => "(source aspect)".to_owned(),
        }
    }

    fn density_text(&self) -> String {
        match self.density() {
            Some(density) => format!("{} px/m", number(density, 1)),
            None => "unknown (no scene width)".to_owned(),
        }
    }

    fn level_text(&self) -> String {
        match self.density() {
            Some(density) => crate::DoriLevel::of(density).describe().to_owned(),
            None => "unknown".to_owned(),
        }
    }
}

fn evidence_text(evidence: Option<EvidenceKind>) -> String {
    match evidence {
        None => "off".to_owned(),
        Some(EvidenceKind::Silhouette) => "silhouette".to_owned(),
        Some(EvidenceKind::Pixelated { block_pixels }) => {
            format!("pixelated, {block_pixels} px blocks")
        }
    }
}

fn camera_section(input: &ReportInput, view: &CameraView<'_>, blocks: &mut Vec<Block>) {
    let camera = view.camera;
    blocks.push(Block::Heading(2, format!("Camera {}", camera.id)));
    let mut facts = vec![
        (
            "Status".to_owned(),
            if camera.enabled {
                "enabled"
            } else {
                "disabled (not connected)"
            }
            .to_owned(),
        ),
        (
            "Analysis frame".to_owned(),
            format!(
                "{} × {} pixels, grey (luma only), {} frames per second; the video is reduced \
                 to this inside the decoder, before Stillwatch's code sees it",
                camera.width,
                view.height_text(),
                number(camera.fps, 2)
            ),
        ),
        (
            "Scene width".to_owned(),
            match camera.scene_width_m {
                Some(scene) => format!("{} m", number(scene, 2)),
                None => "not given".to_owned(),
            },
        ),
    ];
    let density = match view.density() {
        Some(density) => format!(
            "{} px/m: EN 62676-4 {}. A face 16 cm wide spans about {} px; a person 50 cm wide \
             about {} px.",
            number(density, 1),
            crate::DoriLevel::of(density).describe(),
            number(density * FACE_WIDTH_M, 1),
            number(density * PERSON_WIDTH_M, 1),
        ),
        None => format!(
            "unknown: no scene width is given, so the analysis width is held to at most {} px",
            input.ceiling.max_width_without_scene_pixels
        ),
    };
    facts.push(("Pixel density".to_owned(), density));
    facts.push((
        "Ceiling".to_owned(),
        match &view.verdict {
            Ok(verdict) => match &verdict.override_reason {
                Some(reason) => format!("passes only with the raised limit; reason: {reason}"),
                None => "within the ceiling".to_owned(),
            },
            Err(message) => format!("REFUSED: {message}"),
        },
    ));
    facts.push((
        "Privacy masks".to_owned(),
        if camera.masks.is_empty() {
            "none".to_owned()
        } else {
            format!(
                "{} polygon(s) covering {}% of the frame; their pixels are blanked in every \
                 frame before any analysis, so motion there can never raise or extend an event",
                camera.masks.len(),
                number(view.mask.covered_fraction() * 100.0, 1)
            )
        },
    ));
    facts.push((
        "Evidence images".to_owned(),
        evidence_description(input, view),
    ));
    facts.push(("Outputs".to_owned(), outputs_text(&camera.outputs)));
    facts.push((
        "Each event carries".to_owned(),
        format!(
            "its times, the names of the zones it touched, motion scores, up to a few boxes \
             in fractions of the frame, and the percentage of motion in each cell of a grid of \
             {} × {} cells. No pixels.",
            camera.grid_cols, camera.grid_rows
        ),
    ));
    blocks.push(Block::Facts(facts));
    if let Err(message) = &view.verdict {
        blocks.push(Block::Warning(format!(
            "This configuration would not start: {message}"
        )));
    }

    blocks.push(Block::Figure {
        svg: drawing(view),
        caption: format!(
            "Camera {}: the {} × {} analysis frame as an outline (no camera image). Hatched: \
             privacy masks. Outlined: zones. Dotted: the {} × {} motion grid of events.{}",
            camera.id,
            camera.width,
            view.height,
            camera.grid_cols,
            camera.grid_rows,
            if camera.height.is_none() {
                " Drawn at 16:9; the source sets the real height."
            } else {
                ""
            }
        ),
    });
    if !camera.masks.is_empty() {
        blocks.push(Block::Heading(3, "Privacy masks".to_owned()));
        blocks.push(Block::Table {
            header: ["Mask", "Points (fractions of width, height)"]
                .map(str::to_owned)
                .to_vec(),
            rows: camera
                .masks
                .iter()
                .enumerate()
                .map(|(index, mask)| vec![(index + 1).to_string(), points_text(mask)])
                .collect(),
        });
    }
    if !camera.zones.is_empty() {
        blocks.push(Block::Heading(3, "Zones".to_owned()));
        blocks.push(Block::Table {
            header: [
                "Zone",
                "Sensitivity",
                "Least area",
                "Pixels (unmasked)",
                "Points (fractions of width, height)",
            ]
            .map(str::to_owned)
            .to_vec(),
            rows: camera
                .zones
                .iter()
                .enumerate()
                .map(|(index, zone)| {
                    vec![
                        zone.name().to_owned(),
                        format!("{}% of the zone", number(zone.sensitivity() * 100.0, 2)),
                        format!(
                            "{}% of the frame",
                            number(zone.min_area_fraction() * 100.0, 3)
                        ),
                        view.zones.pixel_count(index).unwrap_or(0).to_string(),
                        points_text(zone.polygon()),
                    ]
                })
                .collect(),
        });
    }
}

fn evidence_description(input: &ReportInput, view: &CameraView<'_>) -> String {
    let camera = view.camera;
    let Some(kind) = camera.evidence else {
        return "off: no image of this camera is ever written".to_owned();
    };
    let where_kept = match input.retention_days {
        Some(days) => format!("kept {days} days"),
        None => "kept until deleted by hand".to_owned(),
    };
    let allowed = kind.check(
        &camera.id,
        camera.width,
        camera.scene_width_m,
        input.ceiling.max_pixels_per_metre,
    );
    let what = match kind {
        EvidenceKind::Silhouette => format!(
            "silhouette: the shape of what moved, black and white, {} × {} px, masked areas \
             cleared",
            camera.width, view.height
        ),
        EvidenceKind::Pixelated { block_pixels } => {
            let effective = view
                .density()
                .map(|density| format!(", {} px/m", number(density / f64::from(block_pixels), 1)))
                .unwrap_or_default();
            format!(
                "pixelated: the grey frame, masked areas blanked, averaged over {block_pixels} × \
                 {block_pixels} px blocks into a {} × {} px image{effective}",
                camera.width.div_ceil(block_pixels),
                view.height.div_ceil(block_pixels),
            )
        }
    };
    match allowed {
        Ok(()) => format!(
            "on, {what}; written only for motion events, each hashed into the audit log, \
             {where_kept}"
        ),
        Err(error) => format!("REFUSED: {error}"),
    }
}

fn outputs_text(outputs: &Outputs) -> String {
    let mut parts = Vec::new();
    if let Some(file) = &outputs.events_file {
        parts.push(format!("events file {file}"));
    }
    if let Some(mqtt) = &outputs.mqtt {
        parts.push(format!("MQTT {mqtt}"));
    }
    if !outputs.webhooks.is_empty() {
        parts.push(format!("webhooks to {}", outputs.webhooks.join(", ")));
    }
    if let Some(http) = &outputs.http_api {
        parts.push(format!(
            "HTTP status API on {http} (status and counts only)"
        ));
    }
    if parts.is_empty() {
        return "none".to_owned();
    }
    parts.join("; ")
}

fn points_text(polygon: &Polygon) -> String {
    polygon
        .points()
        .iter()
        .map(|&[x, y]| format!("({}, {})", number(x, 4), number(y, 4)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The frame outline with the motion grid, masks (hatched) and zones (outlined, named), in
/// analysis pixels. All text is escaped here.
fn drawing(view: &CameraView<'_>) -> String {
    let camera = view.camera;
    let (width, height) = (f64::from(camera.width), f64::from(view.height));
    let id = escape_html(camera.id.as_str());
    let display_height = (f64::from(DRAWING_WIDTH) * height / width).round();
    let stroke = "vector-effect=\"non-scaling-stroke\"";
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{DRAWING_WIDTH}\" \
         height=\"{display_height}\" role=\"img\" aria-label=\"Masks and zones of camera {id}\">\n\
         <defs><pattern id=\"hatch-{id}\" patternUnits=\"userSpaceOnUse\" width=\"{hatch}\" \
         height=\"{hatch}\" patternTransform=\"rotate(45)\"><rect width=\"{hatch}\" \
         height=\"{hatch}\" fill=\"#ddd\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"{hatch}\" \
         stroke=\"#444\" stroke-width=\"{half}\"/></pattern></defs>\n\
         <rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"#fff\" stroke=\"#000\" {stroke}/>\n",
        w = camera.width,
        h = view.height,
        hatch = number(width / 60.0, 2),
        half = number(width / 120.0, 2),
    );
    let cols = u32::from(camera.grid_cols.max(1));
    let rows = u32::from(camera.grid_rows.max(1));
    svg.push_str("<g stroke=\"#999\" stroke-dasharray=\"2 3\">");
    for col in 1..cols {
        let x = number(f64::from(col * camera.width / cols), 2);
        let _ = write!(
            svg,
            "<line x1=\"{x}\" y1=\"0\" x2=\"{x}\" y2=\"{}\" {stroke}/>",
            view.height
        );
    }
    for row in 1..rows {
        let y = number(f64::from(row * view.height / rows), 2);
        let _ = write!(
            svg,
            "<line x1=\"0\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" {stroke}/>",
            camera.width
        );
    }
    svg.push_str("</g>\n");
    let points = |polygon: &Polygon| {
        polygon
            .points()
            .iter()
            .map(|&[x, y]| format!("{},{}", number(x * width, 2), number(y * height, 2)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    for mask in &camera.masks {
        let _ = writeln!(
            svg,
            "<polygon points=\"{}\" fill=\"url(#hatch-{id})\" stroke=\"#000\" {stroke}/>",
            points(mask)
        );
    }
    let font = number(height / 16.0, 2);
    for zone in &camera.zones {
        let name = escape_html(zone.name());
        let count = zone.polygon().points().len() as f64;
        let (sum_x, sum_y) = zone
            .polygon()
            .points()
            .iter()
            .fold((0.0, 0.0), |(sx, sy), &[x, y]| (sx + x, sy + y));
        let _ = writeln!(
            svg,
            "<g><title>Zone {name}</title><polygon points=\"{}\" fill=\"#0057b8\" \
             fill-opacity=\"0.08\" stroke=\"#0057b8\" stroke-width=\"2\" {stroke}/>\
             <text x=\"{}\" y=\"{}\" font-size=\"{font}\" text-anchor=\"middle\" \
             fill=\"#003a7a\" font-family=\"sans-serif\">{name}</text></g>",
            points(zone.polygon()),
            number(sum_x / count * width, 2),
            number(sum_y / count * height, 2),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// What computes the motion on every pixel, and how an auditor can check it.
fn computation(input: &ReportInput, blocks: &mut Vec<Block>) {
    blocks.push(Block::Heading(2, "What computes motion".to_owned()));
    let onnx: Vec<String> = input
        .cameras
        .iter()
        .filter(|camera| camera.onnx)
        .map(|camera| camera.id.to_string())
        .collect();
    let native = input.cameras.len() - onnx.len();
    if native > 0 {
        blocks.push(Block::Paragraph(format!(
            "{native} camera(s) are analysed by Stillwatch's built-in detector (background \
             subtraction on the grey analysis frame: a per-pixel model of the background, a \
             foreground mask, connected regions, a coarse grid), whose open source code is the \
             description of what it computes."
        )));
    }
    if onnx.is_empty() {
        return;
    }
    blocks.push(Block::Paragraph(format!(
        "Camera(s) {} run the per-pixel part of the same detector as the ONNX graphs below, \
         which give the same result as the built-in code. Each graph is a declarative \
         description of every operation on every pixel that anyone can open (for example in \
         Netron) or check with the `onnx` package. The service refuses to start when a graph's \
         SHA-256 differs from the value below, and records the hashes in the audit log each \
         time it starts.",
        onnx.join(", ")
    )));
    blocks.push(Block::Table {
        header: ["Graph", "File", "SHA-256"].map(str::to_owned).to_vec(),
        rows: input
            .graphs
            .iter()
            .map(|graph| vec![graph.name.clone(), graph.file.clone(), graph.sha256.clone()])
            .collect(),
    });
}

fn closing(input: &ReportInput, blocks: &mut Vec<Block>) {
    computation(input, blocks);
    blocks.push(Block::Heading(
        2,
        "What Stillwatch never collects".to_owned(),
    ));
    blocks.push(Block::List(
        [
            "Audio: the camera is asked for its video stream only; no audio track is requested.",
            "Colour: video is turned into grey (luma only) inside the decoder, before any \
             Stillwatch code sees it.",
            "Full-resolution frames: video is scaled down to the analysis size above inside the \
             decoder; no larger frame ever reaches Stillwatch's code, memory or disk.",
            "Identity: Stillwatch has no code that detects or recognises faces, people, licence \
             plates, clothing or any other feature of appearance, and none can be switched on.",
            "Re-identification: no appearance features, embeddings or track identities are \
             computed, within a camera or across cameras.",
            "Imagery in outputs: no event, MQTT message, webhook or API response carries pixels; \
             they carry times, zone names, scores, coarse boxes and a coarse motion grid.",
            "The camera's own metadata and analytics: never requested.",
            "Frames on disk: none, unless evidence images are turned on for a camera (shown \
             above), and those are redacted.",
        ]
        .map(str::to_owned)
        .to_vec(),
    ));

    blocks.push(Block::Heading(2, "Retention".to_owned()));
    match input.retention_days {
        Some(days) => blocks.push(Block::Paragraph(format!(
            "Evidence images and rotated event files older than {days} days are deleted \
             automatically; each deletion is recorded in the audit log with the file's name, \
             size and age."
        ))),
        None => blocks.push(Block::Warning(
            "No retention period is set: evidence images and rotated event files are kept \
             until deleted by hand. Set `privacy.retention_days`."
                .to_owned(),
        )),
    }

    blocks.push(Block::Heading(2, "How the audit log proves it".to_owned()));
    if !input.audit.enabled {
        blocks.push(Block::Warning(
            "The audit log is off: nothing independent records what this installation did."
                .to_owned(),
        ));
        return;
    }
    blocks.push(Block::Paragraph(
        "Stillwatch keeps an append-only audit log. Every record holds the SHA-256 hash of the \
         one before it, so changing, removing, reordering or truncating any record breaks the \
         chain from there on."
            .to_owned(),
    ));
    let mut items = vec![
        "Every configuration load, with the SHA-256 of the configuration: matching it against the \
         hash at the top of this report shows that these settings were in force, and when."
            .to_owned(),
        "Service start and stop, camera connections and disconnections, and the start and end \
         of every event."
            .to_owned(),
        "Every evidence image written, with the SHA-256 of its bytes.".to_owned(),
        "Every deletion by retention.".to_owned(),
        "Every camera that relies on a raised resolution ceiling, with the reason.".to_owned(),
    ];
    if input.audit.signed_checkpoints {
        items.push(
            "Periodic checkpoints signed with an Ed25519 key: with the public key, anyone can \
             check the log offline with `stillwatch audit verify DIR --public-key FILE`."
                .to_owned(),
        );
    } else {
        items.push(
            "Anyone can check the chain offline with `stillwatch audit verify DIR`; checkpoints \
             are not signed, so configure a signing key to make the log's end tamper-evident too."
                .to_owned(),
        );
    }
    blocks.push(Block::List(items));
    let ceiling_note = if input.ceiling.max_pixels_per_metre > DETECTION_PIXELS_PER_METRE {
        " The raised ceiling above is recorded with its reason."
    } else {
        ""
    };
    blocks.push(Block::Paragraph(format!(
        "The log holds no images and no secrets.{ceiling_note}"
    )));
}

fn html_block(block: &Block, out: &mut String) {
    match block {
        Block::Heading(level, text) => {
            let _ = writeln!(out, "<h{level}>{}</h{level}>", escape_html(text));
        }
        Block::Paragraph(text) => {
            let _ = writeln!(out, "<p>{}</p>", escape_html(text));
        }
        Block::Warning(text) => {
            let _ = writeln!(
                out,
                "<p class=\"warning\"><strong>Note:</strong> {}</p>",
                escape_html(text)
            );
        }
        Block::List(items) => {
            out.push_str("<ul>\n");
            for item in items {
                let _ = writeln!(out, "<li>{}</li>", escape_html(item));
            }
            out.push_str("</ul>\n");
        }
        Block::Facts(facts) => {
            out.push_str("<table>\n");
            for (label, value) in facts {
                let _ = writeln!(
                    out,
                    "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
                    escape_html(label),
                    escape_html(value)
                );
            }
            out.push_str("</table>\n");
        }
        Block::Table { header, rows } => {
            out.push_str("<table>\n<tr>");
            for cell in header {
                let _ = write!(out, "<th>{}</th>", escape_html(cell));
            }
            out.push_str("</tr>\n");
            for row in rows {
                out.push_str("<tr>");
                for cell in row {
                    let _ = write!(out, "<td>{}</td>", escape_html(cell));
                }
                out.push_str("</tr>\n");
            }
            out.push_str("</table>\n");
        }
        Block::Figure { svg, caption } => {
            let _ = writeln!(
                out,
                "<figure>\n{svg}\n<figcaption>{}</figcaption>\n</figure>",
                escape_html(caption)
            );
        }
    }
}

fn markdown_block(block: &Block, out: &mut String) {
    match block {
        Block::Heading(level, text) => {
            let _ = writeln!(
                out,
                "{} {}",
                "#".repeat(usize::from(*level)),
                escape_markdown(text)
            );
        }
        Block::Paragraph(text) => {
            let _ = writeln!(out, "{}", escape_markdown(text));
        }
        Block::Warning(text) => {
            let _ = writeln!(out, "> **Note:** {}", escape_markdown(text));
        }
        Block::List(items) => {
            for item in items {
                let _ = writeln!(out, "- {}", escape_markdown(item));
            }
        }
        Block::Facts(facts) => {
            out.push_str("| | |\n|---|---|\n");
            for (label, value) in facts {
                let _ = writeln!(
                    out,
                    "| **{}** | {} |",
                    escape_markdown(label),
                    escape_markdown(value)
                );
            }
        }
        Block::Table { header, rows } => {
            let line = |cells: &[String]| {
                let escaped: Vec<String> = cells.iter().map(|cell| escape_markdown(cell)).collect();
                format!("| {} |\n", escaped.join(" | "))
            };
            out.push_str(&line(header));
            out.push_str(&format!("|{}\n", "---|".repeat(header.len())));
            for row in rows {
                out.push_str(&line(row));
            }
        }
        Block::Figure { caption, .. } => {
            let _ = writeln!(
                out,
                "*{} (Drawing in the HTML report.)*",
                escape_markdown(caption)
            );
        }
    }
}

/// Text made safe for HTML element content and quoted attribute values.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Text made literal in Markdown (CommonMark/GFM): punctuation that could start markup is
/// backslash-escaped, line breaks become spaces (table cells are one line).
fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '&' | '~' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn polygon(points: &[[f64; 2]]) -> Polygon {
        Polygon::new(points.to_vec()).unwrap()
    }

    fn input() -> ReportInput {
        let door = ZoneSpec::new(
            "Door <A> & \"B\"",
            polygon(&[[0.1, 0.2], [0.4, 0.2], [0.4, 0.9], [0.1, 0.9]]),
            0.01,
            0.0,
        )
        .unwrap();
        let road = ZoneSpec::new(
            "road's <script>alert(1)</script>",
            polygon(&[[0.5, 0.5], [1.0, 0.5], [1.0, 1.0]]),
            0.05,
            0.001,
        )
        .unwrap();
        ReportInput {
            title: "Depot <north> & yard".to_owned(),
            generated: Some("2025-01-31".to_owned()),
            config_sha256: Some("ab".repeat(32)),
            ceiling: CeilingCheck::default(),
            retention_days: Some(30),
            audit: AuditSummary {
                enabled: true,
                signed_checkpoints: true,
            },
            cameras: vec![
                CameraInput {
                    id: CameraId::new("front-gate").unwrap(),
                    enabled: true,
                    width: 320,
                    height: Some(180),
                    fps: 5.0,
                    scene_width_m: Some(14.0),
                    masks: vec![polygon(&[[0.0, 0.0], [0.3, 0.0], [0.3, 0.4], [0.0, 0.4]])],
                    zones: vec![door, road],
                    evidence: Some(EvidenceKind::Pixelated { block_pixels: 8 }),
                    grid_cols: 16,
                    grid_rows: 9,
                    onnx: false,
                    outputs: Outputs {
                        events_file: Some("/var/lib/stillwatch/events.jsonl".to_owned()),
                        mqtt: Some("broker.local:1883".to_owned()),
                        webhooks: vec!["hooks.example".to_owned()],
                        http_api: Some("127.0.0.1:9090".to_owned()),
                    },
                },
                CameraInput {
                    id: CameraId::new("yard.2").unwrap(),
                    enabled: false,
                    width: 640,
                    height: None,
                    fps: 2.5,
                    scene_width_m: None,
                    masks: Vec::new(),
                    zones: Vec::new(),
                    evidence: None,
                    grid_cols: 8,
                    grid_rows: 6,
                    onnx: true,
                    outputs: Outputs::default(),
                },
            ],
            graphs: vec![GraphSummary {
                name: "classify".to_owned(),
                file: "models/classify.onnx".to_owned(),
                sha256: "cd".repeat(32),
            }],
        }
    }

    #[test]
    fn the_report_says_what_computes_motion_and_pins_the_graphs() {
        let markdown = PrivacyReport::new(&input()).render_markdown();
        for expected in [
            "## What computes motion",
            "1 camera(s) are analysed by Stillwatch's built-in detector",
            "Camera(s) yard.2 run the per-pixel part of the same detector as the ONNX graphs",
            &format!("| classify | models/classify.onnx | {} |", "cd".repeat(32)),
        ] {
            assert!(
                markdown.contains(expected),
                "missing {expected:?} in\n{markdown}"
            );
        }
        let mut native = input();
        for camera in &mut native.cameras {
            camera.onnx = false;
        }
        let markdown = PrivacyReport::new(&native).render_markdown();
        assert!(markdown.contains("2 camera(s) are analysed by Stillwatch's built-in detector"));
        assert!(!markdown.contains("ONNX"), "{markdown}");
    }

    #[test]
    fn html_names_every_camera_and_zone_escaped_and_no_image() {
        let html = PrivacyReport::new(&input()).render_html();
        for expected in [
            "<title>Privacy report: Depot &lt;north&gt; &amp; yard</title>",
            "<h2>Camera front-gate</h2>",
            "<h2>Camera yard.2</h2>",
            "<td>Door &lt;A&gt; &amp; &quot;B&quot;</td>",
            ">Door &lt;A&gt; &amp; &quot;B&quot;</text>",
            "road&#39;s &lt;script&gt;alert(1)&lt;/script&gt;",
            "22.9 px/m",
            "below detection (under 25 px/m)",
            "What Stillwatch never collects",
            "pixelated: the grey frame, masked areas blanked, averaged over 8 × 8 px blocks into a 40 × 23 px image, 2.9 px/m",
            // 640 px without a scene width is over the cap: the report says so.
            "REFUSED: camera yard.2: analysis width 640 px is above 320 px",
            "Drawn at 16:9",
        ] {
            assert!(html.contains(expected), "missing {expected:?}");
        }
        assert!(!html.contains("<script"), "user text is escaped");
        assert!(!html.to_lowercase().contains("<img"), "no images");
        for external in ["src=", "href=", "@import", "url(http"] {
            assert!(!html.contains(external), "no external resource: {external}");
        }
        assert_eq!(html.matches("<svg").count(), 2, "one drawing per camera");
    }

    #[test]
    fn the_same_input_gives_the_same_bytes() {
        let first = PrivacyReport::new(&input());
        let second = PrivacyReport::new(&input());
        assert_eq!(first.render_html(), second.render_html());
        assert_eq!(first.render_markdown(), second.render_markdown());
    }

    #[test]
    fn markdown_has_the_same_content_escaped() {
        let markdown = PrivacyReport::new(&input()).render_markdown();
        for expected in [
            "# Privacy report: Depot \\<north\\> \\& yard\n",
            "## Camera front-gate\n",
            "| Door \\<A\\> \\& \"B\" |",
            "## What Stillwatch never collects\n",
            "(Drawing in the HTML report.)",
        ] {
            assert!(
                markdown.contains(expected),
                "missing {expected:?}\n{markdown}"
            );
        }
        assert!(!markdown.contains("<svg"));
    }

    #[test]
    fn warnings_for_missing_retention_audit_and_raised_ceiling() {
        let mut input = input();
        input.retention_days = None;
        input.audit.enabled = false;
        input.ceiling = CeilingCheck {
            max_pixels_per_metre: 40.0,
            max_width_without_scene_pixels: 640,
            override_reason: Some("loading dock".to_owned()),
        };
        let html = PrivacyReport::new(&input).render_html();
        for expected in [
            "No retention period is set",
            "The audit log is off",
            "raised above their defaults (25 px/m, 320 px) for this reason, recorded in the audit log for every camera that relies on it: loading dock",
            "passes only with the raised limit; reason: loading dock",
        ] {
            assert!(html.contains(expected), "missing {expected:?}");
        }
    }

    #[test]
    fn escaping_tables() {
        let html = [
            ("a<b", "a&lt;b"),
            ("\"x\" & 'y'", "&quot;x&quot; &amp; &#39;y&#39;"),
            ("é", "é"),
        ];
        for (text, expected) in html {
            assert_eq!(escape_html(text), expected);
        }
        let markdown = [
            ("a|b", "a\\|b"),
            ("*x*_y_", "\\*x\\*\\_y\\_"),
            ("line\nbreak", "line break"),
            ("[l](u)", "\\[l\\](u)"),
        ];
        for (text, expected) in markdown {
            assert_eq!(escape_markdown(text), expected);
        }
    }
}
