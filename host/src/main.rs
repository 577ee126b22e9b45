fn main() -> std::process::ExitCode {
    trainhost::cli::main()
}
