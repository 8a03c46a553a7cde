//! Face detection with CenterFace (boxes + 5 landmarks). The image is letterboxed into one of a
//! few pinned input sizes so each tract plan is optimised once: a small size first (selfies and
//! kiosk frames, where the face fills much of the picture), a larger one when it finds nothing.

use std::sync::OnceLock;

use image::RgbImage;

use super::model::{read_proto, run, Parsed, Plan};
use super::resize::{letterbox, Layout, Normalize};
use super::transpose::transpose_planes;
use super::{Face, VisionError};

/// Heat-map threshold of a face centre (CenterFace's own default).
pub const SCORE_THRESHOLD: f32 = 0.5;
/// Boxes overlapping more than this (IoU) with a better one are dropped.
pub const NMS_IOU: f32 = 0.3;

/// Input sizes (width, height) of the detector plans, and preprocessing.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorSpec {
    /// Tried first, landscape orientation; the portrait plan is the same size transposed.
    pub primary: (usize, usize),
    /// Tried when the primary size finds no face; `None` = no second try.
    pub fallback: Option<(usize, usize)>,
    pub layout: Layout,
    pub norm: Normalize,
    /// Run portrait images through the spatially transposed network (see `transpose.rs`): the
    /// same faces, and faster where tract's own depthwise convolutions run ([`transpose_pays`]).
    pub transpose_portrait: bool,
}

impl Default for DetectorSpec {
    /// CenterFace: NCHW, raw RGB, 320x256 first then 640x512 (multiples of 32).
    fn default() -> Self {
        DetectorSpec {
            primary: (320, 256),
            fallback: Some((640, 512)),
            layout: Layout::Nchw,
            norm: Normalize::RAW_RGB,
            transpose_portrait: transpose_pays(),
        }
    }
}

/// Whether portrait images should take the transposed network. tract's depthwise kernel is
/// vectorised only along the wider axis, so there it pays; where the direct depthwise op runs
/// (AVX-512, `fast_ops`), any width is vectorised and the transposes of the input and the
/// output maps are pure cost: the detector took 18.3 ms with them and 17.3 without on a
/// portrait photo (`cargo bench --bench vision -- t1/detect`).
pub fn transpose_pays() -> bool {
    !super::fast_ops::direct_convolutions_available()
}

/// A CenterFace-layout detector with lazily built plans per pinned size.
pub struct Detector {
    name: String,
    parsed: Parsed,
    /// The transposed network for portrait slots; `None` when the spec turns it off, the layout
    /// is not NCHW or the graph has operators the transpose does not cover.
    transposed: Option<Parsed>,
    spec: DetectorSpec,
    /// primary landscape, primary portrait, fallback landscape, fallback portrait
    plans: [OnceLock<Result<Plan, String>>; 4],
}

impl Detector {
    /// Parses the model; the primary plans are built at once, the fallback ones on first use.
    pub fn new(name: &str, bytes: &[u8], spec: DetectorSpec) -> Result<Detector, VisionError> {
        // The transposed network is only a faster route: if tract cannot parse or plan it (an
        // operator's model, say), portrait images take the direct plan.
        let proto = read_proto(name, bytes)?;
        let transposed = if spec.transpose_portrait && spec.layout == Layout::Nchw {
            Parsed::transposed(name, &proto).ok().flatten()
        } else {
            None
        };
        let mut det = Detector {
            name: name.to_string(),
            parsed: Parsed::from_proto(name, &proto)?,
            transposed,
            spec,
            plans: Default::default(),
        };
        det.plan(0)?;
        if det.plan(1).is_err() && det.transposed.is_some() {
            det.transposed = None;
            det.plans[1] = OnceLock::new();
            det.plans[3] = OnceLock::new();
        }
        det.plan(1)?;
        Ok(det)
    }

    fn size(&self, slot: usize) -> Option<(usize, usize)> {
        let (w, h) = if slot < 2 {
            self.spec.primary
        } else {
            self.spec.fallback?
        };
        Some(if slot.is_multiple_of(2) {
            (w, h)
        } else {
            (h, w)
        })
    }

    /// The transposed network, when `slot` is a portrait slot that runs through it.
    fn transposed_for(&self, slot: usize) -> Option<&Parsed> {
        self.transposed.as_ref().filter(|_| !slot.is_multiple_of(2))
    }

    fn plan(&self, slot: usize) -> Result<&Plan, VisionError> {
        let (w, h) = self
            .size(slot)
            .ok_or_else(|| VisionError::model(&self.name, "no plan"))?;
        let (parsed, shape) = match self.transposed_for(slot) {
            Some(t) => (t, self.spec.layout.shape(h, w)),
            None => (&self.parsed, self.spec.layout.shape(w, h)),
        };
        self.plans[slot]
            .get_or_init(|| parsed.plan(&shape).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| VisionError::model(&self.name, e))
    }

    /// All faces in the image, best first; an empty list when there are none.
    pub fn detect(
        &self,
        img: &RgbImage,
        executor: &tract_linalg::multithread::Executor,
    ) -> Result<Vec<Face>, VisionError> {
        let portrait = usize::from(img.height() > img.width());
        let faces = self.detect_with(img, portrait, executor)?;
        if !faces.is_empty() || self.spec.fallback.is_none() {
            return Ok(faces);
        }
        self.detect_with(img, 2 + portrait, executor)
    }

    /// Runs one pinned size (`slot`, see `plans`).
    pub fn detect_with(
        &self,
        img: &RgbImage,
        slot: usize,
        executor: &tract_linalg::multithread::Executor,
    ) -> Result<Vec<Face>, VisionError> {
        let (w, h) = self
            .size(slot)
            .ok_or_else(|| VisionError::model(&self.name, "no plan"))?;
        let plan = self.plan(slot)?;
        let input = self.input_tensor(img, w, h);
        let outputs = if self.transposed_for(slot).is_some() {
            // NCHW planes h x w -> w x h; the outputs' planes come back the same way.
            let data = transpose_planes(&input.data, h, w);
            let shape = self.spec.layout.shape(h, w);
            let outputs = run(&self.name, plan, executor, &shape, data)?;
            outputs
                .into_iter()
                .map(|(mut shape, values)| {
                    let n = shape.len();
                    if n >= 2 {
                        let (oh, ow) = (shape[n - 2], shape[n - 1]);
                        shape.swap(n - 2, n - 1);
                        (shape, transpose_planes(&values, oh, ow))
                    } else {
                        (shape, values)
                    }
                })
                .collect()
        } else {
            let shape = self.spec.layout.shape(w, h);
            run(&self.name, plan, executor, &shape, input.data)?
        };
        let faces = decode_centerface(&outputs, input.scale)
            .map_err(|e| VisionError::model(&self.name, e))?;
        Ok(clamp_to_image(
            faces,
            img.width() as f32,
            img.height() as f32,
        ))
    }

    /// The preprocessed input for a `w` x `h` plan (exposed for tensor dumps and benches).
    pub fn input_tensor(&self, img: &RgbImage, w: usize, h: usize) -> super::resize::Letterboxed {
        letterbox(img, w, h, self.spec.layout, &self.spec.norm)
    }

    /// Input size (width, height) the detector tries first for `img`.
    pub fn primary_size(&self, img: &RgbImage) -> (usize, usize) {
        let (w, h) = self.spec.primary;
        if img.height() > img.width() {
            (h, w)
        } else {
            (w, h)
        }
    }

    /// Input shape the detector tries first for `img`.
    pub fn primary_shape(&self, img: &RgbImage) -> [usize; 4] {
        let (w, h) = self.primary_size(img);
        self.spec.layout.shape(w, h)
    }
}

/// Decodes CenterFace's four outputs (heat, scale, offset, landmarks; all `[1, C, h, w]` at
/// stride 4) into faces in image pixels (`scale` = tensor pixels per image pixel), after NMS.
pub fn decode_centerface(
    outputs: &[(Vec<usize>, Vec<f32>)],
    scale: f32,
) -> Result<Vec<Face>, String> {
    if outputs.len() < 4 {
        return Err(format!("expected 4 outputs, got {}", outputs.len()));
    }
    let (hs, heat) = &outputs[0];
    let (ss, sc) = &outputs[1];
    let (os, off) = &outputs[2];
    let (ls, lm) = &outputs[3];
    let dims = |s: &Vec<usize>, c: usize| s.len() == 4 && s[0] == 1 && s[1] == c;
    if !(dims(hs, 1) && dims(ss, 2) && dims(os, 2) && dims(ls, 10)) {
        return Err(format!(
            "unexpected output shapes {hs:?} {ss:?} {os:?} {ls:?}"
        ));
    }
    let (gh, gw) = (hs[2], hs[3]);
    let plane = gh * gw;
    if [ss, os, ls].iter().any(|s| s[2] != gh || s[3] != gw) {
        return Err("output grids differ".into());
    }
    let mut faces = Vec::new();
    for y in 0..gh {
        for x in 0..gw {
            let i = y * gw + x;
            let score = heat[i];
            if score.is_nan() || score <= SCORE_THRESHOLD {
                continue;
            }
            let s0 = sc[i].exp() * 4.0;
            let s1 = sc[plane + i].exp() * 4.0;
            let x1 = (x as f32 + off[plane + i] + 0.5) * 4.0 - s1 / 2.0;
            let y1 = (y as f32 + off[i] + 0.5) * 4.0 - s0 / 2.0;
            let mut landmarks5 = [[0.0f32; 2]; 5];
            for (j, p) in landmarks5.iter_mut().enumerate() {
                p[0] = (lm[(2 * j + 1) * plane + i] * s1 + x1) / scale;
                p[1] = (lm[2 * j * plane + i] * s0 + y1) / scale;
            }
            let bbox = [x1 / scale, y1 / scale, (x1 + s1) / scale, (y1 + s0) / scale];
            if bbox
                .iter()
                .chain(landmarks5.iter().flatten())
                .all(|v| v.is_finite())
            {
                faces.push(Face {
                    bbox,
                    score,
                    landmarks5,
                });
            }
        }
    }
    Ok(nms(faces, NMS_IOU))
}

/// Greedy non-maximum suppression, best score first.
pub fn nms(mut faces: Vec<Face>, iou_max: f32) -> Vec<Face> {
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Face> = Vec::new();
    for f in faces {
        if kept.iter().all(|k| iou(&k.bbox, &f.bbox) <= iou_max) {
            kept.push(f);
        }
    }
    kept
}

/// Intersection over union of two boxes.
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// Clips boxes to the image; drops faces whose box lies entirely outside (letterbox padding).
fn clamp_to_image(faces: Vec<Face>, w: f32, h: f32) -> Vec<Face> {
    faces
        .into_iter()
        .filter_map(|mut f| {
            f.bbox = [
                f.bbox[0].clamp(0.0, w),
                f.bbox[1].clamp(0.0, h),
                f.bbox[2].clamp(0.0, w),
                f.bbox[3].clamp(0.0, h),
            ];
            (f.width() >= 1.0 && f.height() >= 1.0).then_some(f)
        })
        .collect()
}
