//! MediaPipe FaceMesh: 468 3-D landmarks on an eye-levelled square crop around the detected face,
//! and the measures gesture checks compare across video frames (head pose, eye and mouth
//! opening, smile width).

use image::RgbImage;
use serde::Serialize;

use super::model::{run, ModelInfo, Parsed, Plan};
use super::resize::{Layout, Normalize};
use super::warp::{warp_to_tensor, Affine};
use super::{Face, VisionError};

/// Number of mesh points.
pub const POINTS: usize = 468;

/// How a FaceMesh-layout model wants its input.
#[derive(Debug, Clone, PartialEq)]
pub struct MeshSpec {
    pub size: usize,
    pub layout: Layout,
    pub norm: Normalize,
    /// Crop side = this x the larger side of the detector box.
    pub crop_scale: f32,
}

impl Default for MeshSpec {
    /// FaceMesh (Human's conversion): 192x192 NHWC RGB / 255, box x 1.4.
    fn default() -> Self {
        MeshSpec {
            size: 192,
            layout: Layout::Nhwc,
            norm: Normalize::UNIT_RGB,
            crop_scale: 1.4,
        }
    }
}

/// 468 points in image pixels (x, y) with depth z in the same pixel scale, plus measures.
#[derive(Debug, Clone, Serialize)]
pub struct Mesh {
    #[serde(skip)]
    pub points: Vec<[f32; 3]>,
    /// The model's face-presence output in `[0, 1]`.
    pub face_flag: f32,
    pub measures: MeshMeasures,
}

/// Geometric measures from the mesh; each is scale-free so frames of different sizes compare.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MeshMeasures {
    /// Head rotation about the vertical axis, degrees; positive = the face turns towards the
    /// image's right side (the subject's left).
    pub yaw: f32,
    /// Rotation about the horizontal axis, degrees; positive = chin up.
    pub pitch: f32,
    /// In-plane rotation of the eye line, degrees; positive = clockwise in the image.
    pub roll: f32,
    /// Eye aspect ratio (EAR), mean of both eyes. Open eyes read 0.20-0.28 on the repository's
    /// frontal photos, but 0.17 on `obama.jpg`, where a broad smile narrows them: an absolute
    /// level says little, so the blink check measures the drop against the clip's own baseline.
    pub eye_openness: f32,
    /// EAR of the eye on the image's left side.
    pub eye_openness_left: f32,
    /// EAR of the eye on the image's right side.
    pub eye_openness_right: f32,
    /// Mouth aspect ratio (MAR): inner lip gap / mouth width.
    pub mouth_opening: f32,
    /// Mouth-corner distance / outer eye-corner distance; grows with a smile.
    pub smile_width: f32,
}

/// A loaded FaceMesh model.
pub struct MeshModel {
    pub info: ModelInfo,
    spec: MeshSpec,
    plan: Plan,
}

impl MeshModel {
    /// Parses and optimises the model for its pinned input.
    pub fn new(info: ModelInfo, bytes: &[u8], spec: MeshSpec) -> Result<MeshModel, VisionError> {
        let plan =
            Parsed::new(&info.name, bytes)?.plan(&spec.layout.shape(spec.size, spec.size))?;
        Ok(MeshModel { info, spec, plan })
    }

    /// Image -> crop transform: square of `crop_scale` x the box, centred on it, rotated so the
    /// detector's eye line is horizontal.
    pub fn crop_transform(&self, face: &Face) -> Affine {
        let [x1, y1, x2, y2] = face.bbox;
        let centre = [(x1 + x2) / 2.0, (y1 + y2) / 2.0];
        let side = (x2 - x1).max(y2 - y1).max(1.0) * self.spec.crop_scale;
        let [l, r] = [face.landmarks5[0], face.landmarks5[1]];
        let angle = (r[1] - l[1]).atan2(r[0] - l[0]);
        let size = self.spec.size as f32;
        let half = size / 2.0 - 0.5;
        Affine::rotate_scale(centre, -angle, size / side, [half, half])
    }

    /// The preprocessed crop tensor and its transform (exposed for tensor dumps and benches).
    pub fn input(&self, img: &RgbImage, face: &Face) -> Result<(Vec<f32>, Affine), VisionError> {
        let t = self.crop_transform(face);
        let s = &self.spec;
        let data = warp_to_tensor(img, &t, s.size, s.size, s.layout, &s.norm)
            .ok_or_else(|| VisionError::model(&self.info.name, "degenerate crop"))?;
        Ok((data, t))
    }

    /// Model input shape.
    pub fn shape(&self) -> [usize; 4] {
        self.spec.layout.shape(self.spec.size, self.spec.size)
    }

    /// Runs FaceMesh on the face and derives the measures.
    pub fn mesh(
        &self,
        img: &RgbImage,
        face: &Face,
        executor: &tract_linalg::multithread::Executor,
    ) -> Result<Mesh, VisionError> {
        let (data, to_crop) = self.input(img, face)?;
        let outputs = run(&self.info.name, &self.plan, executor, &self.shape(), data)?;
        let name = &self.info.name;
        let mesh = outputs
            .iter()
            .find(|(_, v)| v.len() == POINTS * 3)
            .ok_or_else(|| VisionError::model(name, "no 1404-value output"))?;
        let face_flag = outputs
            .iter()
            .find(|(_, v)| v.len() == 1)
            .map(|(_, v)| v[0])
            .unwrap_or(1.0);
        let back = to_crop
            .inverse()
            .ok_or_else(|| VisionError::model(name, "degenerate crop"))?;
        let zscale = 1.0 / to_crop.scale();
        let points: Vec<[f32; 3]> = mesh
            .1
            .chunks_exact(3)
            .map(|p| {
                let [x, y] = back.apply([p[0], p[1]]);
                [x, y, p[2] * zscale]
            })
            .collect();
        let measures = measures(&points);
        Ok(Mesh {
            points,
            face_flag,
            measures,
        })
    }
}

fn d2(p: &[[f32; 3]], a: usize, b: usize) -> f32 {
    let (pa, pb) = (p[a], p[b]);
    ((pa[0] - pb[0]).powi(2) + (pa[1] - pb[1]).powi(2)).sqrt()
}

fn ratio(num: f32, den: f32) -> f32 {
    if den > 1e-6 {
        num / den
    } else {
        0.0
    }
}

/// Measures from 468 points (MediaPipe indices). EAR = (|160-144| + |158-153|) / (2 |33-133|)
/// (other eye 385/380, 387/373, 362/263); MAR = |13-14| / |78-308|; smile = |61-291| / |33-263|;
/// pose from the 3-D face plane spanned by cheeks (234 -> 454) and forehead-chin (10 -> 152).
pub fn measures(p: &[[f32; 3]]) -> MeshMeasures {
    if p.len() < POINTS {
        return MeshMeasures {
            yaw: 0.0,
            pitch: 0.0,
            roll: 0.0,
            eye_openness: 0.0,
            eye_openness_left: 0.0,
            eye_openness_right: 0.0,
            mouth_opening: 0.0,
            smile_width: 0.0,
        };
    }
    // Subject's right eye (image left): 33 outer, 133 inner; subject's left eye: 362 inner, 263 outer.
    let ear_img_left = ratio(d2(p, 160, 144) + d2(p, 158, 153), 2.0 * d2(p, 33, 133));
    let ear_img_right = ratio(d2(p, 385, 380) + d2(p, 387, 373), 2.0 * d2(p, 362, 263));
    let mouth_opening = ratio(d2(p, 13, 14), d2(p, 78, 308));
    let smile_width = ratio(d2(p, 61, 291), d2(p, 33, 263));
    let sub = |a: usize, b: usize| [p[b][0] - p[a][0], p[b][1] - p[a][1], p[b][2] - p[a][2]];
    let across = sub(234, 454);
    let down = sub(10, 152);
    // Normal of the face plane; with x right, y down, z away from the camera it points into the head.
    let n = [
        across[1] * down[2] - across[2] * down[1],
        across[2] * down[0] - across[0] * down[2],
        across[0] * down[1] - across[1] * down[0],
    ];
    let yaw = (-n[0]).atan2(n[2]).to_degrees();
    let pitch = n[1].atan2((n[0] * n[0] + n[2] * n[2]).sqrt()).to_degrees();
    let roll = (p[263][1] - p[33][1])
        .atan2(p[263][0] - p[33][0])
        .to_degrees();
    MeshMeasures {
        yaw,
        pitch,
        roll,
        eye_openness: (ear_img_left + ear_img_right) / 2.0,
        eye_openness_left: ear_img_left,
        eye_openness_right: ear_img_right,
        mouth_opening,
        smile_width,
    }
}
