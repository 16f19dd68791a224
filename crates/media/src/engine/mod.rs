//! The media engine's operations beyond its cameras, one file each: snapshots, recording control,
//! retention upkeep. Each adds methods to [`crate::MediaEngine`].

mod recording;
mod snapshots;
mod upkeep;
