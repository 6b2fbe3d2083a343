//! How `blog` is linked (build.rs): at a fixed address on Linux with glibc,
//! so the six services share its read-only data instead of each patching a
//! copy of its own.

/// The ELF file type: 2 is a fixed-address executable, 3 a
/// position-independent one (what a PIE and a shared library are).
fn elf_type(path: &str) -> u16 {
    let bytes = std::fs::read(path).expect("the blog binary cargo built");
    assert_eq!(&bytes[..4], b"\x7fELF", "{path} is not an ELF file");
    u16::from_le_bytes([bytes[16], bytes[17]])
}

#[test]
#[cfg(all(target_os = "linux", target_env = "gnu", target_endian = "little"))]
fn blog_is_linked_at_a_fixed_address_unless_blog_pie_asks_otherwise() {
    let path = env!("CARGO_BIN_EXE_blog");
    let expected = if option_env!("BLOG_PIE").is_some() {
        3
    } else {
        2
    };
    assert_eq!(
        elf_type(path),
        expected,
        "{path}: ELF type 2 is position-dependent, 3 position-independent; build.rs links \
         with -no-pie unless BLOG_PIE is set, so the services share its relocated data"
    );
}
