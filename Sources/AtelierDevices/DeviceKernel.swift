/// A kernel written once for both backends: the OpenCL kernel `name` in
/// `Kernels/<file>` over `global` work-items, and the CPU path's `cpu`, the
/// same computation over host memory. Ops that need nothing more than this
/// (AtelierGraph's Ops/Definitions) run on any backend without the backend knowing them.
public struct DeviceKernel {
    /// One kernel argument, in the kernel's order.
    public enum Argument {
        case buffer(DeviceBuffer)
        case int(Int)
        case float(Float)
    }

    /// What the CPU version receives: the buffer arguments' host memory, the
    /// ints and the floats, each in argument order.
    public struct HostArguments {
        /// The buffer arguments' host memory.
        public let buffers: [UnsafeMutablePointer<Float>]
        /// The int arguments.
        public let ints: [Int]
        /// The float arguments.
        public let floats: [Float]
    }

    /// The kernel's file in Kernels/.
    public let file: String
    /// The kernel's name in it.
    public let name: String
    /// Its arguments, in order.
    public let arguments: [Argument]
    /// The global work size (rounded up to the work-group size when launched).
    public let global: [Int]
    /// Work-group size; nil lets the OpenCL driver choose.
    public let local: [Int]?
    /// Build options (`-DNAME=value` for the file's tunables).
    public let options: String
    /// The same computation on host memory, for the CPU path and the reference.
    public let cpu: (HostArguments) -> Void

    /// A kernel launch and its CPU twin.
    public init(file: String, name: String, arguments: [Argument], global: [Int], local: [Int]? = nil, options: String = "",
                cpu: @escaping (HostArguments) -> Void) {
        self.file = file
        self.name = name
        self.arguments = arguments
        self.global = global
        self.local = local
        self.options = options
        self.cpu = cpu
    }

    var buffers: [DeviceBuffer] {
        arguments.compactMap { if case .buffer(let b) = $0 { b } else { nil } }
    }

    /// Runs the CPU version on host buffers (the CPU path and the reference).
    func runOnHost() {
        var buffers: [UnsafeMutablePointer<Float>] = [], ints: [Int] = [], floats: [Float] = []
        for argument in arguments {
            switch argument {
            case .buffer(let b): buffers.append(b.host)
            case .int(let v): ints.append(v)
            case .float(let v): floats.append(v)
            }
        }
        cpu(HostArguments(buffers: buffers, ints: ints, floats: floats))
    }
}
