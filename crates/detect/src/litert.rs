//! LiteRT through its C API (the 2.x CompiledModel API, the only one `libLiteRt.so` exports).
//!
//! The library is opened at run time with `dlopen` (libloading), not linked: an appliance whose
//! library is missing or broken must still start, stream and record, with detection reporting a
//! clear error naming the file. That rules out `litert-sys`, which links at build time; the ~25
//! declarations below are written from the LiteRT 2.1.4 headers (`litert/c/*.h`) and checked by
//! the tests against a real model. The library comes from the hash-pinned `ai-edge-litert==2.1.4`
//! wheel (`scripts/fetch-detect-assets`); its symbols change between releases, so the version is
//! pinned.

use super::coco::Output;
use super::runtime::{Backend, ElementType, InputData, RuntimeError, TensorInfo};
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::sync::Arc;

type Status = c_int;
type Handle = *mut c_void;
const OK: Status = 0;
const MAX_RANK: usize = 8;

/// `LiteRtLayout`: `unsigned rank:7; bool has_strides:1;` share the first 32-bit unit.
#[repr(C)]
#[derive(Clone, Copy)]
struct Layout {
    bits: u32,
    dimensions: [i32; MAX_RANK],
    strides: [u32; MAX_RANK],
}

/// `LiteRtRankedTensorType`.
#[repr(C)]
#[derive(Clone, Copy)]
struct RankedTensorType {
    element_type: c_int,
    layout: Layout,
}

/// `LiteRtAny` (tag + 8-byte union).
#[repr(C)]
#[derive(Clone, Copy)]
struct Any {
    kind: c_int,
    value: i64,
}

/// `LiteRtEnvOption`.
#[repr(C)]
#[derive(Clone, Copy)]
struct EnvOption {
    tag: c_int,
    value: Any,
}

const ENV_AUTO_REGISTER_ACCELERATORS: c_int = 24;
const ENV_MIN_LOGGER_SEVERITY: c_int = 25;
const ANY_INT: c_int = 2;
const LOG_ERROR: i64 = 3;
const HW_CPU: c_int = 1;
const RANKED_TENSOR: c_int = 0;
const BUFFER_HOST_MEMORY: c_int = 1;
const LOCK_READ: c_int = 0;
const LOCK_WRITE: c_int = 1;

fn element(t: c_int) -> ElementType {
    match t {
        1 => ElementType::F32,
        2 => ElementType::I32,
        3 => ElementType::U8,
        4 => ElementType::I64,
        9 => ElementType::I8,
        o => ElementType::Other(o as u32),
    }
}

macro_rules! api {
    ($($name:ident: $sym:literal => fn($($arg:ty),*) $(-> $ret:ty)?;)*) => {
        #[allow(non_snake_case)]
        struct Api {
            $($name: unsafe extern "C" fn($($arg),*) $(-> $ret)?,)*
        }

        impl Api {
            /// Resolves every symbol; the first one missing names itself.
            fn load(lib: &libloading::Library) -> Result<Self, String> {
                // SAFETY: the types are the C prototypes of LiteRT 2.1.4 (see the module doc).
                unsafe {
                    Ok(Self {
                        $($name: *lib
                            .get::<unsafe extern "C" fn($($arg),*) $(-> $ret)?>($sym)
                            .map_err(|e| format!("symbol {}: {e}", String::from_utf8_lossy(&$sym[..$sym.len() - 1])))?,)*
                    })
                }
            }
        }
    };
}

api! {
    create_environment: b"LiteRtCreateEnvironment\0" => fn(c_int, *const EnvOption, *mut Handle) -> Status;
    destroy_environment: b"LiteRtDestroyEnvironment\0" => fn(Handle);
    create_model_from_file: b"LiteRtCreateModelFromFile\0" => fn(*const c_char, *mut Handle) -> Status;
    destroy_model: b"LiteRtDestroyModel\0" => fn(Handle);
    get_model_signature: b"LiteRtGetModelSignature\0" => fn(Handle, usize, *mut Handle) -> Status;
    get_num_signature_inputs: b"LiteRtGetNumSignatureInputs\0" => fn(Handle, *mut usize) -> Status;
    get_num_signature_outputs: b"LiteRtGetNumSignatureOutputs\0" => fn(Handle, *mut usize) -> Status;
    get_signature_input_tensor: b"LiteRtGetSignatureInputTensorByIndex\0" => fn(Handle, usize, *mut Handle) -> Status;
    get_signature_output_tensor: b"LiteRtGetSignatureOutputTensorByIndex\0" => fn(Handle, usize, *mut Handle) -> Status;
    get_tensor_name: b"LiteRtGetTensorName\0" => fn(Handle, *mut *const c_char) -> Status;
    get_tensor_type_id: b"LiteRtGetTensorTypeId\0" => fn(Handle, *mut c_int) -> Status;
    get_ranked_tensor_type: b"LiteRtGetRankedTensorType\0" => fn(Handle, *mut RankedTensorType) -> Status;
    create_options: b"LiteRtCreateOptions\0" => fn(*mut Handle) -> Status;
    destroy_options: b"LiteRtDestroyOptions\0" => fn(Handle);
    set_hardware_accelerators: b"LiteRtSetOptionsHardwareAccelerators\0" => fn(Handle, c_int) -> Status;
    create_opaque_options: b"LiteRtCreateOpaqueOptions\0" => fn(*const c_char, *mut c_void, Option<unsafe extern "C" fn(*mut c_void)>, *mut Handle) -> Status;
    add_opaque_options: b"LiteRtAddOpaqueOptions\0" => fn(Handle, Handle) -> Status;
    create_compiled_model: b"LiteRtCreateCompiledModel\0" => fn(Handle, Handle, Handle, *mut Handle) -> Status;
    destroy_compiled_model: b"LiteRtDestroyCompiledModel\0" => fn(Handle);
    input_requirements: b"LiteRtGetCompiledModelInputBufferRequirements\0" => fn(Handle, usize, usize, *mut Handle) -> Status;
    output_requirements: b"LiteRtGetCompiledModelOutputBufferRequirements\0" => fn(Handle, usize, usize, *mut Handle) -> Status;
    requirements_buffer_size: b"LiteRtGetTensorBufferRequirementsBufferSize\0" => fn(Handle, *mut usize) -> Status;
    create_managed_buffer: b"LiteRtCreateManagedTensorBuffer\0" => fn(Handle, c_int, *const RankedTensorType, usize, *mut Handle) -> Status;
    destroy_buffer: b"LiteRtDestroyTensorBuffer\0" => fn(Handle);
    buffer_packed_size: b"LiteRtGetTensorBufferPackedSize\0" => fn(Handle, *mut usize) -> Status;
    lock_buffer: b"LiteRtLockTensorBuffer\0" => fn(Handle, *mut *mut c_void, c_int) -> Status;
    unlock_buffer: b"LiteRtUnlockTensorBuffer\0" => fn(Handle) -> Status;
    run_compiled_model: b"LiteRtRunCompiledModel\0" => fn(Handle, usize, usize, *mut Handle, usize, *mut Handle) -> Status;
}

/// The loaded library. It is never unloaded: LiteRT keeps threads and exit handlers that must
/// not outlive its code, so the `Library` is leaked once per path (see [`LiteRt::load`]).
pub struct LiteRt {
    api: Api,
    path: PathBuf,
}

impl std::fmt::Debug for LiteRt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiteRt").field("path", &self.path).finish()
    }
}

/// Where `libLiteRt.so` is looked for when not given: `$PINHOLE_LITERT_LIB`, beside the binary,
/// `/usr/lib/pinhole/`, then `~/.cache/pinhole-assets/<arch>/` (`scripts/fetch-detect-assets`).
pub fn library_candidates() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(p) = std::env::var_os("PINHOLE_LITERT_LIB") {
        v.push(PathBuf::from(p));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        v.push(dir.join("libLiteRt.so"));
    }
    v.push(PathBuf::from("/usr/lib/pinhole/libLiteRt.so"));
    let assets = std::env::var_os("PINHOLE_ASSETS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/pinhole-assets"))
        });
    if let Some(a) = assets {
        v.push(a.join(std::env::consts::ARCH).join("libLiteRt.so"));
    }
    v
}

/// The library to load: `explicit`, or the first candidate that exists.
pub fn find_library(explicit: Option<&Path>) -> Result<PathBuf, RuntimeError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let c = library_candidates();
    c.iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| RuntimeError::Library {
            path: "libLiteRt.so".into(),
            reason: format!(
                "not found in {}; run scripts/fetch-detect-assets or set PINHOLE_LITERT_LIB",
                c.iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

impl LiteRt {
    /// Loads the library once per path for the life of the process.
    pub fn load(path: &Path) -> Result<Arc<Self>, RuntimeError> {
        static LOADED: std::sync::Mutex<Vec<(PathBuf, Arc<LiteRt>)>> =
            std::sync::Mutex::new(Vec::new());
        let mut loaded = LOADED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, rt)) = loaded.iter().find(|(p, _)| p == path) {
            return Ok(rt.clone());
        }
        let err = |reason: String| RuntimeError::Library {
            path: path.display().to_string(),
            reason,
        };
        // SAFETY: loading a shared library runs its initialisers; this is the pinned LiteRT.
        let lib = unsafe { libloading::Library::new(path) }.map_err(|e| err(e.to_string()))?;
        let lib: &'static libloading::Library = Box::leak(Box::new(lib));
        let api = Api::load(lib).map_err(err)?;
        let rt = Arc::new(Self {
            api,
            path: path.to_path_buf(),
        });
        loaded.push((path.to_path_buf(), rt.clone()));
        Ok(rt)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Loads and compiles a model for the CPU (XNNPACK) with `threads` threads.
    pub fn load_model(
        self: &Arc<Self>,
        path: &Path,
        threads: u32,
    ) -> Result<LiteRtModel, RuntimeError> {
        let mut m = LiteRtModel {
            rt: self.clone(),
            path: path.display().to_string(),
            env: std::ptr::null_mut(),
            model: std::ptr::null_mut(),
            options: std::ptr::null_mut(),
            compiled: std::ptr::null_mut(),
            in_bufs: Vec::new(),
            out_bufs: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
        };
        m.init(threads)?;
        Ok(m)
    }
}

/// One compiled model with its host-memory buffers.
pub struct LiteRtModel {
    rt: Arc<LiteRt>,
    path: String,
    env: Handle,
    model: Handle,
    options: Handle,
    compiled: Handle,
    in_bufs: Vec<Handle>,
    out_bufs: Vec<Handle>,
    inputs: Vec<TensorInfo>,
    outputs: Vec<TensorInfo>,
}

// SAFETY: the handles are used by one thread at a time (`&mut self`); LiteRT objects are not
// tied to the thread that created them.
unsafe impl Send for LiteRtModel {}

impl LiteRtModel {
    fn model_err(&self, what: &str, s: Status) -> RuntimeError {
        RuntimeError::Model {
            path: self.path.clone(),
            reason: format!("{what} failed (LiteRT status {s})"),
        }
    }

    fn init(&mut self, threads: u32) -> Result<(), RuntimeError> {
        let rt = self.rt.clone();
        let a = &rt.api;
        let path = self.path.clone();
        let check = |what: &str, s: Status| {
            if s == OK {
                Ok(())
            } else {
                Err(RuntimeError::Model {
                    path: path.clone(),
                    reason: format!("{what} failed (LiteRT status {s})"),
                })
            }
        };
        let opts = [
            EnvOption {
                tag: ENV_MIN_LOGGER_SEVERITY,
                value: Any {
                    kind: ANY_INT,
                    value: LOG_ERROR,
                },
            },
            EnvOption {
                tag: ENV_AUTO_REGISTER_ACCELERATORS,
                value: Any {
                    kind: ANY_INT,
                    value: HW_CPU as i64,
                },
            },
        ];
        let file = CString::new(self.path.as_bytes()).map_err(|_| self.model_err("path", -1))?;
        // SAFETY: every call follows the LiteRT C API contract: out-pointers are valid, handles
        // come from the matching create call, and each is destroyed once in Drop.
        unsafe {
            check(
                "creating the environment",
                (a.create_environment)(opts.len() as c_int, opts.as_ptr(), &mut self.env),
            )?;
            if !Path::new(&self.path).is_file() {
                return Err(RuntimeError::Model {
                    path: self.path.clone(),
                    reason: "no such file".into(),
                });
            }
            let s = (a.create_model_from_file)(file.as_ptr(), &mut self.model);
            if s != OK {
                return Err(RuntimeError::Model {
                    path: self.path.clone(),
                    reason: format!("not a valid .tflite model (LiteRT status {s})"),
                });
            }
            let mut sig: Handle = std::ptr::null_mut();
            check(
                "reading the signature",
                (a.get_model_signature)(self.model, 0, &mut sig),
            )?;
            let (mut nin, mut nout) = (0usize, 0usize);
            check(
                "counting inputs",
                (a.get_num_signature_inputs)(sig, &mut nin),
            )?;
            check(
                "counting outputs",
                (a.get_num_signature_outputs)(sig, &mut nout),
            )?;
            let mut types_in = Vec::new();
            let mut types_out = Vec::new();
            for (n, outputs) in [(nin, false), (nout, true)] {
                for i in 0..n {
                    let mut t: Handle = std::ptr::null_mut();
                    let get = if outputs {
                        a.get_signature_output_tensor
                    } else {
                        a.get_signature_input_tensor
                    };
                    check("reading a tensor", get(sig, i, &mut t))?;
                    let mut name: *const c_char = std::ptr::null();
                    check("reading a tensor name", (a.get_tensor_name)(t, &mut name))?;
                    let mut id: c_int = -1;
                    check("reading a tensor type", (a.get_tensor_type_id)(t, &mut id))?;
                    if id != RANKED_TENSOR {
                        return Err(RuntimeError::Shape {
                            path: self.path.clone(),
                            reason: "unranked tensor".into(),
                        });
                    }
                    let mut rt = RankedTensorType {
                        element_type: 0,
                        layout: Layout {
                            bits: 0,
                            dimensions: [0; MAX_RANK],
                            strides: [0; MAX_RANK],
                        },
                    };
                    check(
                        "reading a tensor shape",
                        (a.get_ranked_tensor_type)(t, &mut rt),
                    )?;
                    let rank = ((rt.layout.bits & 0x7f) as usize).min(MAX_RANK);
                    let info = TensorInfo {
                        name: if name.is_null() {
                            String::new()
                        } else {
                            CStr::from_ptr(name).to_string_lossy().into_owned()
                        },
                        dims: rt.layout.dimensions[..rank]
                            .iter()
                            .map(|d| (*d).max(0) as usize)
                            .collect(),
                        element: element(rt.element_type),
                    };
                    if outputs {
                        self.outputs.push(info);
                        types_out.push(rt);
                    } else {
                        self.inputs.push(info);
                        types_in.push(rt);
                    }
                }
            }
            check("creating options", (a.create_options)(&mut self.options))?;
            check(
                "selecting the CPU",
                (a.set_hardware_accelerators)(self.options, HW_CPU),
            )?;
            let toml = format!("num_threads = {}\n", threads.max(1));
            let payload = CString::new(toml).map_err(|_| self.model_err("options", -1))?;
            // LiteRT frees the payload with the destructor given: allocate it with malloc.
            let raw = libc::strdup(payload.as_ptr());
            let mut cpu: Handle = std::ptr::null_mut();
            let id = c"xnnpack";
            check(
                "creating CPU options",
                (a.create_opaque_options)(id.as_ptr(), raw.cast(), Some(free_payload), &mut cpu),
            )?;
            check(
                "adding CPU options",
                (a.add_opaque_options)(self.options, cpu),
            )?;
            check(
                "compiling the model",
                (a.create_compiled_model)(self.env, self.model, self.options, &mut self.compiled),
            )?;
            for (i, t) in types_in.iter().enumerate() {
                let buf = self.buffer(a, true, i, t)?;
                self.in_bufs.push(buf);
            }
            for (i, t) in types_out.iter().enumerate() {
                let buf = self.buffer(a, false, i, t)?;
                self.out_bufs.push(buf);
            }
        }
        Ok(())
    }

    /// A host-memory buffer sized by the compiled model's requirements.
    unsafe fn buffer(
        &self,
        a: &Api,
        input: bool,
        i: usize,
        t: &RankedTensorType,
    ) -> Result<Handle, RuntimeError> {
        let mut req: Handle = std::ptr::null_mut();
        let mut size = 0usize;
        let mut buf: Handle = std::ptr::null_mut();
        // SAFETY: as in `init`; `req` is owned by the compiled model.
        unsafe {
            let get = if input {
                a.input_requirements
            } else {
                a.output_requirements
            };
            let s = get(self.compiled, 0, i, &mut req);
            if s != OK {
                return Err(self.model_err("reading buffer requirements", s));
            }
            let s = (a.requirements_buffer_size)(req, &mut size);
            if s != OK {
                return Err(self.model_err("reading a buffer size", s));
            }
            let s = (a.create_managed_buffer)(self.env, BUFFER_HOST_MEMORY, t, size, &mut buf);
            if s != OK {
                return Err(self.model_err("creating a buffer", s));
            }
        }
        Ok(buf)
    }
}

unsafe extern "C" fn free_payload(p: *mut c_void) {
    // SAFETY: `p` came from `strdup`.
    unsafe { libc::free(p) }
}

impl Backend for LiteRtModel {
    fn inputs(&self) -> &[TensorInfo] {
        &self.inputs
    }

    fn outputs(&self) -> &[TensorInfo] {
        &self.outputs
    }

    fn run(&mut self, input: InputData<'_>) -> Result<Vec<Output>, RuntimeError> {
        let rt = self.rt.clone();
        let a = &rt.api;
        let (Some(&inbuf), Some(info)) = (self.in_bufs.first(), self.inputs.first()) else {
            return Err(RuntimeError::Run("the model has no input".into()));
        };
        let run_err =
            |what: &str, s: Status| RuntimeError::Run(format!("{what} (LiteRT status {s})"));
        // SAFETY: buffers are locked before their memory is touched and unlocked after; sizes
        // are checked against the packed size LiteRT reports.
        unsafe {
            let mut packed = 0usize;
            let s = (a.buffer_packed_size)(inbuf, &mut packed);
            if s != OK {
                return Err(run_err("input size", s));
            }
            let (bytes, len): (*const u8, usize) = match (input, info.element) {
                (InputData::F32(d), ElementType::F32) => {
                    (d.as_ptr().cast(), std::mem::size_of_val(d))
                }
                (InputData::U8(d), ElementType::U8 | ElementType::I8) => (d.as_ptr(), d.len()),
                (_, e) => {
                    return Err(RuntimeError::Run(format!(
                        "input data does not match the model's {e:?} input"
                    )));
                }
            };
            if len != packed {
                return Err(RuntimeError::Run(format!(
                    "input is {len} bytes, the model takes {packed}"
                )));
            }
            let mut p: *mut c_void = std::ptr::null_mut();
            let s = (a.lock_buffer)(inbuf, &mut p, LOCK_WRITE);
            if s != OK || p.is_null() {
                return Err(run_err("locking the input", s));
            }
            std::ptr::copy_nonoverlapping(bytes, p.cast::<u8>(), len);
            (a.unlock_buffer)(inbuf);
            let s = (a.run_compiled_model)(
                self.compiled,
                0,
                self.in_bufs.len(),
                self.in_bufs.as_mut_ptr(),
                self.out_bufs.len(),
                self.out_bufs.as_mut_ptr(),
            );
            if s != OK {
                return Err(run_err("running the model", s));
            }
            let mut outs = Vec::with_capacity(self.out_bufs.len());
            for (buf, info) in self.out_bufs.iter().zip(&self.outputs) {
                let mut packed = 0usize;
                let s = (a.buffer_packed_size)(*buf, &mut packed);
                if s != OK {
                    return Err(run_err("output size", s));
                }
                let mut p: *mut c_void = std::ptr::null_mut();
                let s = (a.lock_buffer)(*buf, &mut p, LOCK_READ);
                if s != OK || p.is_null() {
                    return Err(run_err("locking an output", s));
                }
                let n = info.elements();
                let data: Vec<f32> = match info.element {
                    ElementType::F32 if packed >= n * 4 => {
                        std::slice::from_raw_parts(p.cast::<f32>(), n).to_vec()
                    }
                    ElementType::I32 if packed >= n * 4 => {
                        std::slice::from_raw_parts(p.cast::<i32>(), n)
                            .iter()
                            .map(|v| *v as f32)
                            .collect()
                    }
                    ElementType::U8 if packed >= n => std::slice::from_raw_parts(p.cast::<u8>(), n)
                        .iter()
                        .map(|v| *v as f32)
                        .collect(),
                    ElementType::I64 if packed >= n * 8 => {
                        std::slice::from_raw_parts(p.cast::<i64>(), n)
                            .iter()
                            .map(|v| *v as f32)
                            .collect()
                    }
                    e => {
                        (a.unlock_buffer)(*buf);
                        return Err(RuntimeError::Run(format!(
                            "output {} has unsupported type {e:?}",
                            info.name
                        )));
                    }
                };
                (a.unlock_buffer)(*buf);
                outs.push(Output {
                    name: info.name.clone(),
                    dims: info.dims.clone(),
                    data,
                });
            }
            Ok(outs)
        }
    }
}

impl Drop for LiteRtModel {
    fn drop(&mut self) {
        let rt = self.rt.clone();
        let a = &rt.api;
        // SAFETY: each handle was created by LiteRT and is destroyed once, in reverse order.
        unsafe {
            for b in self.in_bufs.drain(..).chain(self.out_bufs.drain(..)) {
                (a.destroy_buffer)(b);
            }
            if !self.compiled.is_null() {
                (a.destroy_compiled_model)(self.compiled);
            }
            if !self.options.is_null() {
                (a.destroy_options)(self.options);
            }
            if !self.model.is_null() {
                (a.destroy_model)(self.model);
            }
            if !self.env.is_null() {
                (a.destroy_environment)(self.env);
            }
        }
    }
}
