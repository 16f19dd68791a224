//! The inference backend: what a detector needs from a runtime, and nothing more, so LiteRT
//! ([`super::litert`]) can be joined by a pure-Rust backend or an accelerator.

use super::coco::Output;

/// A tensor's element type, as far as detectors care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementType {
    F32,
    U8,
    I8,
    I32,
    I64,
    Other(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    pub dims: Vec<usize>,
    pub element: ElementType,
}

impl TensorInfo {
    pub fn elements(&self) -> usize {
        self.dims.iter().product()
    }
}

/// Why a model cannot be used; names the file.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot load the inference library {path}: {reason}")]
    Library { path: String, reason: String },
    #[error("cannot load the model {path}: {reason}")]
    Model { path: String, reason: String },
    #[error("the model {path} has an unexpected shape: {reason}")]
    Shape { path: String, reason: String },
    #[error("inference failed: {0}")]
    Run(String),
}

/// Input data for a model.
#[derive(Debug, Clone, Copy)]
pub enum InputData<'a> {
    F32(&'a [f32]),
    U8(&'a [u8]),
}

/// One loaded model, ready to run. Not shared between threads: a worker owns it.
pub trait Backend: Send {
    fn inputs(&self) -> &[TensorInfo];
    fn outputs(&self) -> &[TensorInfo];
    /// Runs the model on one input; returns every output as f32.
    fn run(&mut self, input: InputData<'_>) -> Result<Vec<Output>, RuntimeError>;
}
