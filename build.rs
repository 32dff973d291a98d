//! Compiles the CSI and kubelet plugin-registration protocols (`proto/`) into tonic servers and
//! clients for `dm csi`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    tonic_prost_build::configure()
        // Calls dm does not implement answer UNIMPLEMENTED, as the CSI spec expects.
        .generate_default_stubs(true)
        .compile_protos(
            &[
                "proto/csi/csi.proto",
                "proto/pluginregistration/registration.proto",
            ],
            &["proto", "/usr/include"],
        )?;
    Ok(())
}
