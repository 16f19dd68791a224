//! Detection: TFLite models run through LiteRT, on frames from the media engine's detector tap.
//!
//! - [`runtime`]: the inference backend trait (run one input, return the output tensors) and
//!   [`litert`], its LiteRT implementation. LiteRT is TensorFlow Lite's current runtime (same
//!   `.tflite` files, XNNPACK built in); the `tflite` crate was measured and rejected: it vendors
//!   TF Lite 1.15 without XNNPACK, runs the face model 5-6× slower (4.7 ms against 0.7-1.1 ms)
//!   and cannot load current models (the DENSIFY op is missing). A pure-Rust backend (tract) or
//!   an Edge TPU accelerator fits behind the same trait.
//! - [`ssd`]: anchor-based models without a post-processing op (BlazeFace, BlazePose).
//! - [`coco`]: models ending in `TFLite_Detection_PostProcess`, with a labels file.
//! - [`image`]: letterboxed resizing and normalisation into the model's input.
//! - [`motion`]: the motion gate (frame differencing with masks) in front of the model.

pub mod coco;
pub mod image;
pub mod litert;
pub mod model;
pub mod motion;
pub mod mqtt;
pub mod runtime;
pub mod service;
pub mod ssd;
pub mod tracker;
