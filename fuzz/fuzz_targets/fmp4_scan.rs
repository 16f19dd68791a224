//! Any bytes through the fragmented-MP4 recovery scanner (it reads torn files after a crash).
//! Must never panic; what it reports must be consistent with the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = pinhole::media::fmp4::scan(&mut std::io::Cursor::new(data)) {
        assert_eq!(r.file_len, data.len() as u64);
        assert!(r.playable_len <= r.file_len);
        assert!(r.fragments == 0 || r.has_moov || r.playable_len > 0);
        if let Some(s) = &r.salvage {
            // Salvage keeps more than the complete fragments and never more than the file (the
            // file may already end exactly after a whole sample); patches land inside it.
            assert!(r.playable_len < s.len && s.len <= r.file_len);
            assert!(s.patches.iter().all(|(at, b)| at + b.len() as u64 <= s.len));
        }
    }
});
