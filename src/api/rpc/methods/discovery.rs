//! The camera service's discovery of external streams. Declared with their roles so the role
//! matrix is complete; they answer -32030 until discovery is built.

use super::Method;

pub(super) fn methods() -> Vec<Method> {
    vec![
        pending!("discover_external_streams", OPERATOR, AUDITED, "discovery"),
        pending!("add_external_stream", OPERATOR, AUDITED, "discovery"),
        pending!("remove_external_stream", OPERATOR, AUDITED, "discovery"),
        pending!("get_external_streams", VIEWER, READ, "discovery"),
        pending!("set_discovery_interval", ADMIN, AUDITED, "discovery"),
    ]
}
