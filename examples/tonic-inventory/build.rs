//! Generates the gRPC code with the vendored `protoc` of `protoc-bin-vendored` (no
//! system protoc needed) and writes the encoded FileDescriptorSet that server
//! reflection serves and that the per-method scope map is checked against.
//!
//! The vendored path goes through `Config::protoc_executable` rather than the `PROTOC`
//! environment variable: `std::env::set_var` is `unsafe` in edition 2024 and the
//! workspace forbids `unsafe_code`. The effect is the same.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .build_transport(false)
        .file_descriptor_set_path(out.join("inventory_descriptor.bin"))
        .compile_with_config(config, &["proto/inventory.proto"], &["proto"])?;
    println!("cargo:rerun-if-changed=proto/inventory.proto");
    Ok(())
}
