fn main() {
    std::process::exit(preconf::main(std::env::args_os()));
}
