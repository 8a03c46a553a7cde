//! Which frames to decode: `sample_count` frames spread evenly over the presentation time,
//! and for each the run of packets from the keyframe it depends on. Codec-agnostic.

use super::MediaError;

/// Picks up to `count` positions from ascending `times`, evenly spaced in time from the
/// first to the last (nearest item to each target time; duplicates dropped).
pub(crate) fn pick_even(times: &[f64], count: usize) -> Vec<usize> {
    let n = times.len();
    if n == 0 || count == 0 {
        return Vec::new();
    }
    if n <= count {
        return (0..n).collect();
    }
    let (t0, t1) = (times[0], times[n - 1]);
    let mut out: Vec<usize> = Vec::with_capacity(count);
    for i in 0..count {
        let t = if count == 1 {
            (t0 + t1) / 2.0
        } else {
            t0 + (t1 - t0) * i as f64 / (count - 1) as f64
        };
        let after = times.partition_point(|&x| x < t);
        let pick = if after == 0 {
            0
        } else if after >= n {
            n - 1
        } else if t - times[after - 1] <= times[after] - t {
            after - 1
        } else {
            after
        };
        if out.last() != Some(&pick) {
            out.push(pick);
        }
    }
    out
}

/// What the planner needs to know of a packet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PacketInfo {
    pub pts: i64,
    pub key: bool,
    pub shown: bool,
}

/// A contiguous stretch of packets (decode order, inclusive) decoded with one fresh decoder;
/// `wanted` are the packets whose pictures are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Run {
    pub start: usize,
    pub end: usize,
    pub wanted: Vec<usize>,
}

impl Run {
    /// Packets decoded by this run.
    pub(crate) fn len(&self) -> usize {
        self.end - self.start + 1
    }
}

/// The sample: packet indices of the chosen frames in presentation order, with their
/// display positions, and the decode runs that produce them.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// (packet index, display position) of each sampled frame, in presentation order.
    pub picks: Vec<(usize, usize)>,
    pub runs: Vec<Run>,
}

impl Plan {
    /// Packets decoded in total.
    pub(crate) fn decode_count(&self) -> usize {
        self.runs.iter().map(Run::len).sum()
    }
}

/// Plans the decode of `count` evenly spread frames. Each sampled frame is decoded from the
/// last keyframe at or before it in decode order (one keyframe earlier when it is a leading
/// picture shown before that keyframe); overlapping or adjacent runs are merged.
pub(crate) fn plan(packets: &[PacketInfo], count: usize) -> Result<Plan, MediaError> {
    let mut shown: Vec<usize> = (0..packets.len()).filter(|&i| packets[i].shown).collect();
    shown.sort_by_key(|&i| (packets[i].pts, i));
    let times: Vec<f64> = shown.iter().map(|&i| packets[i].pts as f64).collect();
    let picks: Vec<(usize, usize)> = pick_even(&times, count)
        .into_iter()
        .map(|pos| (shown[pos], pos))
        .collect();
    if picks.is_empty() {
        return Err(MediaError::NoFrames(
            "the video track holds no displayable frame".into(),
        ));
    }
    let keys: Vec<usize> = (0..packets.len()).filter(|&i| packets[i].key).collect();
    let mut spans: Vec<(usize, usize, usize)> = Vec::with_capacity(picks.len());
    for &(t, _) in &picks {
        let k = keys.partition_point(|&k| k <= t);
        if k == 0 {
            return Err(MediaError::Corrupt(format!(
                "frame {t} has no keyframe before it to decode from"
            )));
        }
        let mut start = keys[k - 1];
        if packets[t].pts < packets[start].pts && k >= 2 {
            start = keys[k - 2];
        }
        spans.push((start, t, t));
    }
    spans.sort();
    let mut runs: Vec<Run> = Vec::new();
    for (start, end, want) in spans {
        match runs.last_mut() {
            Some(r) if start <= r.end + 1 => {
                r.end = r.end.max(end);
                r.wanted.push(want);
            }
            _ => runs.push(Run {
                start,
                end,
                wanted: vec![want],
            }),
        }
    }
    Ok(Plan { picks, runs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_spread_from_first_to_last() {
        let t: Vec<f64> = (0..20).map(f64::from).collect();
        assert_eq!(pick_even(&t, 4), vec![0, 6, 13, 19]);
        assert_eq!(pick_even(&t, 30).len(), 20);
        assert_eq!(pick_even(&t, 1), vec![9]);
    }

    #[test]
    fn runs_start_at_keyframes_and_merge() {
        // 20 frames, keyframes at 0 and 10, no reordering.
        let p: Vec<PacketInfo> = (0..20)
            .map(|i| PacketInfo {
                pts: i,
                key: i % 10 == 0,
                shown: true,
            })
            .collect();
        let plan = plan(&p, 4).unwrap();
        assert_eq!(
            plan.picks.iter().map(|x| x.0).collect::<Vec<_>>(),
            vec![0, 6, 13, 19]
        );
        assert_eq!(
            plan.runs,
            vec![
                Run {
                    start: 0,
                    end: 6,
                    wanted: vec![0, 6]
                },
                Run {
                    start: 10,
                    end: 19,
                    wanted: vec![13, 19]
                },
            ]
        );
        assert_eq!(plan.decode_count(), 17);
    }

    #[test]
    fn no_keyframe_is_an_error() {
        let p = vec![PacketInfo {
            pts: 0,
            key: false,
            shown: true,
        }];
        assert!(matches!(plan(&p, 4), Err(MediaError::Corrupt(_))));
    }
}
