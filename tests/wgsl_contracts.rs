//! The contracts between the WGSL kernels and the Rust that binds them,
//! checked by reflection, without a GPU: every uniform struct of every
//! module (naga's layout: size, member names, offsets, in order) against its
//! `#[repr(C)]` mirror, and the constants Rust prepends.

use genlab::backends::gpu::{entry_points, module_names, module_source, Tile, UniformLayout};
use genlab::core::{ACTIVATION_CODES, WORKGROUP_SIZE};
use genlab::ops::uniform_layouts;
use std::collections::BTreeMap;

/// Every uniform struct declared by a module: name → (size, [(member, offset)]).
fn wgsl_uniforms(module: &str) -> BTreeMap<String, (usize, Vec<(String, usize)>)> {
    let source = module_source(module, Tile::Square)
        .unwrap_or_else(|| panic!("{module}: not in the module list of backends/gpu/shaders.rs"));
    let m = naga::front::wgsl::parse_str(&source)
        .unwrap_or_else(|e| panic!("{module}: {}", e.emit_to_string(&source)));
    let mut out = BTreeMap::new();
    for (_, var) in m.global_variables.iter() {
        if var.space != naga::AddressSpace::Uniform {
            continue;
        }
        let ty = &m.types[var.ty];
        let naga::TypeInner::Struct { members, span } = &ty.inner else {
            panic!("{module}: uniform {:?} is not a struct", var.name);
        };
        let name = ty.name.clone().expect("uniform structs are named");
        let fields = members
            .iter()
            .map(|f| (f.name.clone().unwrap_or_default(), f.offset as usize))
            .collect();
        out.insert(name, (*span as usize, fields));
    }
    out
}

#[test]
fn every_wgsl_uniform_struct_matches_its_rust_mirror() {
    let mirrors: BTreeMap<&str, UniformLayout> =
        uniform_layouts().into_iter().map(|l| (l.name, l)).collect();
    let mut seen = std::collections::BTreeSet::new();
    for module in module_names() {
        for (name, (size, fields)) in wgsl_uniforms(module) {
            let rust = mirrors.get(name.as_str()).unwrap_or_else(|| {
                panic!(
                    "{module}: uniform struct {name} has no Rust mirror: declare it with \
                     uniform! in its op's file and list it in that file's UNIFORMS"
                )
            });
            assert_eq!(
                rust.size, size,
                "{module}: {name} is {size} bytes in WGSL, {} in Rust",
                rust.size
            );
            let rust_fields: Vec<(String, usize)> = rust
                .fields
                .iter()
                .map(|&(f, o)| (f.to_string(), o))
                .collect();
            assert_eq!(
                rust_fields, fields,
                "{module}: {name}'s fields (name, byte offset) differ: Rust left, WGSL right"
            );
            seen.insert(name);
        }
    }
    for name in mirrors.keys() {
        assert!(
            seen.contains(*name),
            "Rust mirror {name} matches no WGSL uniform struct"
        );
    }
}

#[test]
fn shared_constants_are_prepended_once_and_used() {
    for module in module_names() {
        let source = module_source(module, Tile::Square).unwrap();
        assert!(
            source.contains(&format!("const WG: u32 = {WORKGROUP_SIZE}u;")),
            "{module}: no WG constant"
        );
        assert_eq!(
            source.matches("const WG: u32").count(),
            1,
            "{module}: WG is declared more than once"
        );
        for (name, code) in ACTIVATION_CODES {
            assert_eq!(
                source
                    .matches(&format!("const {name}: u32 = {code}u;"))
                    .count(),
                1,
                "{module}: {name} must come from core::ACTIVATION_CODES only"
            );
        }
    }
    // No kernel file writes the workgroup size as a number any more.
    for (module, entry, tiled) in module_names().flat_map(|m| {
        entry_points(&module_source(m, Tile::Square).unwrap())
            .into_iter()
            .map(move |(e, t)| (m, e, t))
    }) {
        let source = module_source(module, Tile::Square).unwrap();
        let decl = source
            .lines()
            .zip(source.lines().skip(1))
            .find(|(_, next)| next.trim_start().starts_with(&format!("fn {entry}(")))
            .map(|(attr, _)| attr.to_string())
            .unwrap_or_default();
        assert!(
            tiled || !decl.contains(&WORKGROUP_SIZE.to_string()),
            "{module}::{entry}: `{decl}` writes the workgroup size as a number; use WG"
        );
    }
}
