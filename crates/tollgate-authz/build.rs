//! Generates the Envoy ext_authz v3 messages and the `Authorization` service from
//! the vendored, trimmed protos in `proto/` (see `proto/README.md` for provenance),
//! with the vendored `protoc` of `protoc-bin-vendored`: `Config::protoc_executable`
//! rather than the `PROTOC` variable (`set_var` is `unsafe` in edition 2024 and the
//! workspace forbids `unsafe_code`).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    let protos = [
        "proto/envoy/service/auth/v3/external_auth.proto",
        "proto/envoy/service/auth/v3/attribute_context.proto",
        "proto/envoy/config/core/v3/base.proto",
        "proto/envoy/type/v3/http_status.proto",
        "proto/google/rpc/status.proto",
    ];
    tonic_prost_build::configure()
        .build_transport(true)
        .build_client(true)
        .compile_with_config(config, &protos, &["proto"])?;
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    Ok(())
}
