//! `docs/openapi.json` is the OpenAPI document the server serves at `/api/openapi.json`,
//! checked in so clients (the web client's generated types among them) can be built from it
//! without a running server. This test fails when it is stale; regenerate with
//! `UPDATE_OPENAPI=1 cargo test -p versus-server --test openapi_file`.

use std::path::PathBuf;

#[test]
fn the_checked_in_openapi_document_is_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let mut generated = versus_server::app::openapi().to_pretty_json().unwrap();
    generated.push('\n');
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/openapi.json is stale: run `UPDATE_OPENAPI=1 cargo test -p versus-server --test openapi_file` and commit it"
    );
}
