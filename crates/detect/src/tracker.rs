//! A simple IoU tracker: one event per object appearance. A detection that overlaps a live
//! track of the same label (IoU above the threshold) updates it; otherwise it starts a new
//! track; a track not seen for `expire_ms` ends. Pure; time comes in as milliseconds.

/// A tracked object.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    pub id: u64,
    pub label: String,
    /// Normalised [x, y, w, h] of the latest sighting.
    pub bbox: [f32; 4],
    pub best_score: f32,
    /// Normalised box at the best score (for the snapshot).
    pub best_bbox: [f32; 4],
    pub start_ms: i64,
    pub last_ms: i64,
    pub hits: u32,
}

/// What a frame did to the tracks.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Started(Track),
    /// A better score than before (a better snapshot may be taken).
    Improved(Track),
    Ended(Track),
}

#[derive(Debug, Clone)]
pub struct Tracker {
    tracks: Vec<Track>,
    next_id: u64,
    iou: f32,
    expire_ms: i64,
}

fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let w = ((a[0] + a[2]).min(b[0] + b[2]) - a[0].max(b[0])).max(0.0);
    let h = ((a[1] + a[3]).min(b[1] + b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let union = a[2] * a[3] + b[2] * b[3] - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

impl Tracker {
    pub fn new(iou: f32, expire_ms: i64) -> Self {
        Self {
            tracks: Vec::new(),
            next_id: 1,
            iou,
            expire_ms,
        }
    }

    pub fn live(&self) -> &[Track] {
        &self.tracks
    }

    /// Feeds one frame's detections (label, score, normalised box) seen at `now_ms`.
    pub fn update(&mut self, now_ms: i64, dets: &[(String, f32, [f32; 4])]) -> Vec<Change> {
        let mut changes = Vec::new();
        let mut taken = vec![false; self.tracks.len()];
        for (label, score, bbox) in dets {
            let best = self
                .tracks
                .iter()
                .enumerate()
                .filter(|(i, t)| !taken[*i] && &t.label == label)
                .map(|(i, t)| (i, iou(&t.bbox, bbox)))
                .filter(|(_, o)| *o > self.iou)
                .max_by(|a, b| a.1.total_cmp(&b.1));
            match best {
                Some((i, _)) => {
                    taken[i] = true;
                    let t = &mut self.tracks[i];
                    t.bbox = *bbox;
                    t.last_ms = now_ms;
                    t.hits += 1;
                    if *score > t.best_score {
                        t.best_score = *score;
                        t.best_bbox = *bbox;
                        changes.push(Change::Improved(t.clone()));
                    }
                }
                None => {
                    let t = Track {
                        id: self.next_id,
                        label: label.clone(),
                        bbox: *bbox,
                        best_score: *score,
                        best_bbox: *bbox,
                        start_ms: now_ms,
                        last_ms: now_ms,
                        hits: 1,
                    };
                    self.next_id += 1;
                    taken.push(true);
                    changes.push(Change::Started(t.clone()));
                    self.tracks.push(t);
                }
            }
        }
        changes.extend(self.expire(now_ms));
        changes
    }

    /// Ends tracks not seen for the expiry time.
    pub fn expire(&mut self, now_ms: i64) -> Vec<Change> {
        let expire = self.expire_ms;
        let (gone, live): (Vec<Track>, Vec<Track>) = std::mem::take(&mut self.tracks)
            .into_iter()
            .partition(|t| now_ms - t.last_ms > expire);
        self.tracks = live;
        gone.into_iter().map(Change::Ended).collect()
    }

    /// Ends every track (shutdown, camera removed).
    pub fn end_all(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.tracks)
            .into_iter()
            .map(Change::Ended)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(label: &str, score: f32, x: f32) -> (String, f32, [f32; 4]) {
        (label.into(), score, [x, 0.1, 0.2, 0.2])
    }

    #[test]
    fn one_event_per_appearance() {
        let mut t = Tracker::new(0.3, 2000);
        let c = t.update(0, &[d("face", 0.8, 0.1)]);
        assert!(matches!(&c[..], [Change::Started(tr)] if tr.id == 1));
        // Moves a little, better score: same track, improved.
        let c = t.update(200, &[d("face", 0.9, 0.12)]);
        assert!(matches!(&c[..], [Change::Improved(tr)] if tr.id == 1 && tr.best_score == 0.9));
        // Worse score: no change reported.
        assert!(t.update(400, &[d("face", 0.7, 0.13)]).is_empty());
        // Another label at the same place is another object.
        let c = t.update(600, &[d("face", 0.7, 0.13), d("person", 0.6, 0.13)]);
        assert!(matches!(&c[..], [Change::Started(tr)] if tr.label == "person"));
        // Gone for more than 2 s: both end.
        let c = t.update(3000, &[]);
        assert_eq!(c.len(), 2);
        assert!(c.iter().all(|c| matches!(c, Change::Ended(_))));
        // It comes back: a new appearance, a new event.
        let c = t.update(3100, &[d("face", 0.8, 0.1)]);
        assert!(matches!(&c[..], [Change::Started(tr)] if tr.id == 3));
    }

    #[test]
    fn two_objects_two_tracks() {
        let mut t = Tracker::new(0.3, 1000);
        t.update(0, &[d("face", 0.8, 0.0), d("face", 0.8, 0.6)]);
        assert_eq!(t.live().len(), 2);
        assert!(
            t.update(100, &[d("face", 0.7, 0.01), d("face", 0.7, 0.61)])
                .is_empty()
        );
        assert_eq!(t.end_all().len(), 2);
    }
}
