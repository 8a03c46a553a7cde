//! `/v1/face/pattern/*`: extract, compare, verify, extract_and_compare and their 1:N forms.
//! Parsing and limits happen here on the async side; all decoding and inference run in
//! [`super::offload`], off the runtime threads.

use base64::Engine as _;
use http::{header, HeaderValue, Response};
use serde::Serialize;

use super::input::{self, Expect, Part, PartKind};
use super::{json, offload, serve};
use crate::http::router::{Ctx, HandlerResult, RespBody};
use crate::lite::decision::{Decision, DecisionRule};
use crate::lite::error::LiteError;
use crate::lite::pipeline;
use crate::vision::Embedding;

/// One 1:1 answer.
#[derive(Debug, Serialize)]
struct Verdict {
    score: f32,
    decision: Decision,
}

/// One 1:N candidate's answer.
#[derive(Debug, Serialize)]
struct Candidate {
    filename: String,
    score: f32,
    decision: Decision,
}

fn rule(ctx: &Ctx) -> DecisionRule {
    DecisionRule {
        match_threshold: ctx.app.config.thresholds.r#match,
        operator_band: ctx.app.config.lite.operator_band,
    }
}

fn max_pixels(ctx: &Ctx) -> u64 {
    ctx.app.config.limits.max_image_pixels
}

/// Probe + candidates + a little slack for clients that send extra fields.
fn max_parts(ctx: &Ctx) -> usize {
    ctx.app.config.lite.max_candidates.saturating_add(8)
}

/// `POST /v1/face/pattern/extract`: image body -> template bytes (base64 text in base64 mode).
pub async fn extract(ctx: Ctx) -> HandlerResult {
    serve(ctx, |mut ctx| async move {
        let image = input::raw_image(&mut ctx).await?;
        let b64 = input::base64_mode(&ctx);
        let limit = max_pixels(&ctx);
        let template = offload(&ctx, move |engine| {
            let e = pipeline::embed_image(engine, &image, limit)?;
            pipeline::template_bytes(e)
        })
        .await?;
        let mut resp = if b64 {
            let text = base64::engine::general_purpose::STANDARD.encode(&template);
            let mut r = Response::new(RespBody::from(text));
            r.headers_mut().insert(
                "content-transfer-encoding",
                HeaderValue::from_static("base64"),
            );
            r
        } else {
            Response::new(RespBody::from(template))
        };
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        Ok(resp)
    })
    .await
}

/// `POST /v1/face/pattern/compare`: `bio_feature` + `bio_template` (two templates).
pub async fn compare(ctx: Ctx) -> HandlerResult {
    serve(ctx, |mut ctx| async move {
        let fields = [
            ("bio_feature", PartKind::Template),
            ("bio_template", PartKind::Template),
        ];
        let parts = read(&mut ctx, &fields).await?;
        let a = input::single(&parts, "bio_feature", PartKind::Template)?.clone();
        let b = input::single(&parts, "bio_template", PartKind::Template)?.clone();
        let rule = rule(&ctx);
        let score = offload(&ctx, move |engine| {
            let a = named(pipeline::read_template(engine, &a.data), &a, None)?;
            let b = named(pipeline::read_template(engine, &b.data), &b, None)?;
            pipeline::score(&a, &b)
        })
        .await?;
        Ok(verdict(score, rule))
    })
    .await
}

/// `POST /v1/face/pattern/verify`: `sample` (image) + `bio_template`.
pub async fn verify(ctx: Ctx) -> HandlerResult {
    serve(ctx, |mut ctx| async move {
        let fields = [
            ("sample", PartKind::Image),
            ("bio_template", PartKind::Template),
        ];
        let parts = read(&mut ctx, &fields).await?;
        let s = input::single(&parts, "sample", PartKind::Image)?.clone();
        let t = input::single(&parts, "bio_template", PartKind::Template)?.clone();
        let (rule, limit) = (rule(&ctx), max_pixels(&ctx));
        let score = offload(&ctx, move |engine| {
            // The cheap template check first: a bad template costs no inference.
            let t = named(pipeline::read_template(engine, &t.data), &t, None)?;
            let s = named(pipeline::embed_image(engine, &s.data, limit), &s, None)?;
            pipeline::score(&s, &t)
        })
        .await?;
        Ok(verdict(score, rule))
    })
    .await
}

/// `POST /v1/face/pattern/extract_and_compare`: `sample_1` + `sample_2` (two images).
pub async fn extract_and_compare(ctx: Ctx) -> HandlerResult {
    serve(ctx, |mut ctx| async move {
        let fields = [("sample_1", PartKind::Image), ("sample_2", PartKind::Image)];
        let parts = read(&mut ctx, &fields).await?;
        let a = input::single(&parts, "sample_1", PartKind::Image)?.clone();
        let b = input::single(&parts, "sample_2", PartKind::Image)?.clone();
        let (rule, limit) = (rule(&ctx), max_pixels(&ctx));
        let score = offload(&ctx, move |engine| {
            let ea = named(pipeline::embed_image(engine, &a.data, limit), &a, None)?;
            let eb = named(pipeline::embed_image(engine, &b.data, limit), &b, None)?;
            pipeline::score(&ea, &eb)
        })
        .await?;
        Ok(verdict(score, rule))
    })
    .await
}

/// `POST /v1/face/pattern/compare_n`: `template_1` + repeated `templates_n`.
pub async fn compare_n(ctx: Ctx) -> HandlerResult {
    serve(ctx, |mut ctx| async move {
        let fields = [
            ("template_1", PartKind::Template),
            ("templates_n", PartKind::Template),
        ];
        let parts = read(&mut ctx, &fields).await?;
        let probe = input::single(&parts, "template_1", PartKind::Template)?.clone();
        let cands = candidates(&ctx, &parts, "templates_n", PartKind::Template)?;
        let rule = rule(&ctx);
        let scores = offload(&ctx, move |engine| {
            let p = named(pipeline::read_template(engine, &probe.data), &probe, None)?;
            score_candidates(&p, &cands, |c| pipeline::read_template(engine, &c.data))
        })
        .await?;
        Ok(ranked(scores, rule))
    })
    .await
}

/// `POST /v1/face/pattern/verify_n`: `sample_1` (image) + repeated `templates_n`.
pub async fn verify_n(ctx: Ctx) -> HandlerResult {
    serve(ctx, |mut ctx| async move {
        let fields = [
            ("sample_1", PartKind::Image),
            ("templates_n", PartKind::Template),
        ];
        let parts = read(&mut ctx, &fields).await?;
        let probe = input::single(&parts, "sample_1", PartKind::Image)?.clone();
        let cands = candidates(&ctx, &parts, "templates_n", PartKind::Template)?;
        let (rule, limit) = (rule(&ctx), max_pixels(&ctx));
        let scores = offload(&ctx, move |engine| {
            // Read every template before spending inference on the probe.
            let templates = cands
                .iter()
                .enumerate()
                .map(|(i, c)| named(pipeline::read_template(engine, &c.data), c, Some(i)))
                .collect::<Result<Vec<_>, _>>()?;
            let p = named(
                pipeline::embed_image(engine, &probe.data, limit),
                &probe,
                None,
            )?;
            let pairs: Vec<(Part, Embedding)> = cands.into_iter().zip(templates).collect();
            score_candidates(&p, &pairs, |(_, e)| Ok(e.clone()))
        })
        .await?;
        Ok(ranked(scores, rule))
    })
    .await
}

/// `POST /v1/face/pattern/extract_and_compare_n`: `sample_1` + repeated `samples_n` (images).
pub async fn extract_and_compare_n(ctx: Ctx) -> HandlerResult {
    serve(ctx, |mut ctx| async move {
        let fields = [
            ("sample_1", PartKind::Image),
            ("samples_n", PartKind::Image),
        ];
        let parts = read(&mut ctx, &fields).await?;
        let probe = input::single(&parts, "sample_1", PartKind::Image)?.clone();
        let cands = candidates(&ctx, &parts, "samples_n", PartKind::Image)?;
        let (rule, limit) = (rule(&ctx), max_pixels(&ctx));
        let scores = offload(&ctx, move |engine| {
            let p = named(
                pipeline::embed_image(engine, &probe.data, limit),
                &probe,
                None,
            )?;
            score_candidates(&p, &cands, |c| {
                pipeline::embed_image(engine, &c.data, limit)
            })
        })
        .await?;
        Ok(ranked(scores, rule))
    })
    .await
}

async fn read(ctx: &mut Ctx, fields: &[(&str, PartKind)]) -> Result<Vec<Part>, LiteError> {
    let expect = Expect {
        fields,
        max_parts: max_parts(ctx),
    };
    input::multipart(ctx, &expect).await
}

/// The repeated candidate parts, within `lite.max_candidates`.
fn candidates(
    ctx: &Ctx,
    parts: &[Part],
    name: &str,
    kind: PartKind,
) -> Result<Vec<Part>, LiteError> {
    let found = input::repeated(parts, name, kind)?;
    let max = ctx.app.config.lite.max_candidates;
    if found.len() > max {
        return Err(LiteError::new(
            kind.unreadable(),
            format!(
                "{} '{name}' parts; at most {max} candidates per request (lite.max_candidates)",
                found.len()
            ),
        )
        .with_status(http::StatusCode::PAYLOAD_TOO_LARGE));
    }
    Ok(found.into_iter().cloned().collect())
}

/// The name a candidate is reported under: its part's filename, or `field[index]` when the
/// client sent none.
fn label(part: &Part, index: usize) -> String {
    part.filename
        .clone()
        .unwrap_or_else(|| format!("{}[{index}]", part.name))
}

/// Adds which part (and which candidate) an error came from.
fn named<T>(r: Result<T, LiteError>, part: &Part, index: Option<usize>) -> Result<T, LiteError> {
    r.map_err(|e| {
        let mut d = serde_json::json!({ "part": part.name });
        if let Some(i) = index {
            d["index"] = i.into();
            d["filename"] = label(part, i).into();
        }
        let message = format!("{}: {}", part.name, e.message);
        LiteError { message, ..e }.with_details(d)
    })
}

/// Something that is, or holds, a candidate part.
trait AsPart {
    fn part(&self) -> &Part;
}
impl AsPart for Part {
    fn part(&self) -> &Part {
        self
    }
}
impl AsPart for (Part, Embedding) {
    fn part(&self) -> &Part {
        &self.0
    }
}

/// Scores the probe against each candidate, in request order; the first unreadable candidate
/// fails the request with its index and filename.
fn score_candidates<C: AsPart>(
    probe: &Embedding,
    cands: &[C],
    embed: impl Fn(&C) -> Result<Embedding, LiteError>,
) -> Result<Vec<(String, f32)>, LiteError> {
    cands
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let part = c.part();
            let e = named(embed(c), part, Some(i))?;
            let s = named(pipeline::score(probe, &e), part, Some(i))?;
            Ok((label(part, i), s))
        })
        .collect()
}

fn verdict(score: f32, rule: DecisionRule) -> Response<RespBody> {
    let v = Verdict {
        score,
        decision: rule.decide(score),
    };
    json(serde_json::json!(v))
}

/// `{"results": [...]}`, best score first; equal scores keep request order.
fn ranked(scores: Vec<(String, f32)>, rule: DecisionRule) -> Response<RespBody> {
    let mut results: Vec<Candidate> = scores
        .into_iter()
        .map(|(filename, score)| Candidate {
            filename,
            score,
            decision: rule.decide(score),
        })
        .collect();
    results.sort_by(|a, b| b.score.total_cmp(&a.score));
    json(serde_json::json!({ "results": results }))
}
