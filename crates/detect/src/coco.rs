//! Models whose graph ends in `TFLite_Detection_PostProcess` (SSD MobileNet, EfficientDet-Lite
//! and most "COCO" TFLite detectors): four outputs, boxes `[1, N, 4]` (ymin, xmin, ymax, xmax,
//! normalised), classes `[1, N]`, scores `[1, N]` and count `[1]`. Exporters disagree on the
//! order of the outputs, so they are told apart by name when the model names them
//! (`...:0`..`:3`) and by shape and content otherwise.

use super::ssd::Detection;

/// One output tensor as the runtime gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub name: String,
    pub dims: Vec<usize>,
    pub data: Vec<f32>,
}

/// A detection with its class index.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassDetection {
    pub class: usize,
    pub detection: Detection,
}

fn by_suffix<'a>(outs: &'a [Output], suffix: &str) -> Option<&'a Output> {
    outs.iter().find(|o| o.name.ends_with(suffix))
}

/// Picks (boxes, classes, scores, count) among the outputs.
fn roles(outs: &[Output]) -> Result<(&Output, &Output, &Output, Option<&Output>), String> {
    if outs.len() < 3 {
        return Err(format!(
            "expected the 4 outputs of TFLite_Detection_PostProcess, found {}",
            outs.len()
        ));
    }
    let named = outs
        .iter()
        .all(|o| o.name.contains("TFLite_Detection_PostProcess"));
    if named
        && let (Some(b), Some(c), Some(s)) = (
            outs.iter()
                .find(|o| o.name.ends_with("PostProcess") || o.name.ends_with(":0")),
            by_suffix(outs, ":1"),
            by_suffix(outs, ":2"),
        )
    {
        return Ok((b, c, s, by_suffix(outs, ":3")));
    }
    let boxes = outs
        .iter()
        .find(|o| o.dims.last() == Some(&4) && o.dims.len() == 3)
        .ok_or("no [1, N, 4] boxes output")?;
    let n = boxes.dims[1];
    let count = outs.iter().find(|o| o.data.len() == 1);
    let pairs: Vec<&Output> = outs
        .iter()
        .filter(|o| !std::ptr::eq(*o, boxes) && o.data.len() == n)
        .collect();
    if pairs.len() != 2 {
        return Err(format!("expected two [1, {n}] outputs (classes, scores)"));
    }
    // Classes are whole numbers; scores are probabilities (in [0, 1], rarely all whole).
    let integral = |o: &Output| o.data.iter().all(|v| v.fract() == 0.0);
    let (classes, scores) = if integral(pairs[0]) && !integral(pairs[1]) {
        (pairs[0], pairs[1])
    } else if integral(pairs[1]) && !integral(pairs[0]) {
        (pairs[1], pairs[0])
    } else if pairs[0].data.iter().any(|v| *v > 1.0) {
        (pairs[0], pairs[1])
    } else {
        (pairs[1], pairs[0])
    };
    Ok((boxes, classes, scores, count))
}

/// Detections above `min_score`.
pub fn decode(outs: &[Output], min_score: f32) -> Result<Vec<ClassDetection>, String> {
    let (boxes, classes, scores, count) = roles(outs)?;
    let n = scores
        .data
        .len()
        .min(classes.data.len())
        .min(boxes.data.len() / 4);
    let n = count
        .and_then(|c| c.data.first())
        .map(|c| (c.max(0.0) as usize).min(n))
        .unwrap_or(n);
    let mut out = Vec::new();
    for i in 0..n {
        let score = scores.data[i];
        if score.is_nan() || score < min_score {
            continue;
        }
        let b = &boxes.data[i * 4..i * 4 + 4];
        out.push(ClassDetection {
            class: classes.data[i].max(0.0) as usize,
            detection: Detection {
                score,
                ymin: b[0].clamp(0.0, 1.0),
                xmin: b[1].clamp(0.0, 1.0),
                ymax: b[2].clamp(0.0, 1.0),
                xmax: b[3].clamp(0.0, 1.0),
                keypoints: Vec::new(),
            },
        });
    }
    Ok(out)
}

/// A labels file: one label per line (`???` or empty for unused ids), or `id label` pairs.
pub fn parse_labels(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let pairs: Vec<Option<(usize, &str)>> = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (id, rest) = l
                .trim()
                .split_once(|c: char| c.is_whitespace() || c == ':')?;
            Some((id.parse().ok()?, rest.trim()))
        })
        .collect();
    if !pairs.is_empty() && pairs.iter().all(Option::is_some) {
        let max = pairs.iter().flatten().map(|p| p.0).max().unwrap_or(0);
        let mut v = vec![String::new(); max + 1];
        for (id, l) in pairs.into_iter().flatten() {
            v[id] = l.to_string();
        }
        return v;
    }
    lines.iter().map(|l| l.trim().to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(name: &str, dims: Vec<usize>, data: Vec<f32>) -> Output {
        Output {
            name: name.into(),
            dims,
            data,
        }
    }

    #[test]
    fn decodes_named_outputs_in_any_order() {
        let outs = vec![
            out("TFLite_Detection_PostProcess:3", vec![1], vec![2.0]),
            out(
                "TFLite_Detection_PostProcess:2",
                vec![1, 3],
                vec![0.9, 0.4, 0.8],
            ),
            out(
                "TFLite_Detection_PostProcess",
                vec![1, 3, 4],
                vec![0.1, 0.2, 0.5, 0.6, 0.0, 0.0, 1.0, 1.0, 0.3, 0.3, 0.4, 0.4],
            ),
            out(
                "TFLite_Detection_PostProcess:1",
                vec![1, 3],
                vec![0.0, 17.0, 2.0],
            ),
        ];
        let d = decode(&outs, 0.5).unwrap();
        // count = 2: the third (score 0.8) is beyond it; the second is below the threshold.
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].class, 0);
        assert_eq!((d[0].detection.ymin, d[0].detection.xmin), (0.1, 0.2));
        assert_eq!((d[0].detection.ymax, d[0].detection.xmax), (0.5, 0.6));
    }

    #[test]
    fn tells_classes_from_scores_without_names() {
        let outs = vec![
            out(
                "a",
                vec![1, 2, 4],
                vec![0.0, 0.0, 0.5, 0.5, 0.5, 0.5, 1.0, 1.0],
            ),
            out("b", vec![1, 2], vec![0.75, 0.6]),
            out("c", vec![1, 2], vec![3.0, 1.0]),
            out("d", vec![1], vec![2.0]),
        ];
        let d = decode(&outs, 0.5).unwrap();
        assert_eq!(d.iter().map(|x| x.class).collect::<Vec<_>>(), vec![3, 1]);
        assert!(decode(&outs[..2], 0.5).is_err());
    }

    #[test]
    fn labels_files() {
        assert_eq!(parse_labels("person\nbicycle\n"), vec!["person", "bicycle"]);
        let l = parse_labels("0 person\n2 car\n");
        assert_eq!(l, vec!["person", "", "car"]);
        let l = parse_labels("0: person\n1: bicycle\n");
        assert_eq!(l[1], "bicycle");
    }
}
