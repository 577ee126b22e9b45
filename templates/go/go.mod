module wit_component

go 1.25

require go.bytecodealliance.org/pkg v0.4.0

// The bindings' runtime package, copied by ./build from the wit-bindgen-go
// crate (crates.io), which ships it: no Go module proxy is needed.
replace go.bytecodealliance.org/pkg => ./.build/go-pkg
