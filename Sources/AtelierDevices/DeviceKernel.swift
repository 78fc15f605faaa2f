/// A kernel written once for both backends: the OpenCL kernel `name` in
/// `Kernels/<file>` over `global` work-items, and the CPU path's `cpu`, the
/// same computation over host memory. Ops that need nothing more than this
/// (AtelierGraph's Ops/Definitions) run on any backend without the backend knowing them.
public struct DeviceKernel {
    public enum Argument {
        case buffer(DeviceBuffer)
        case int(Int)
        case float(Float)
    }

    /// What the CPU version receives: the buffer arguments' host memory, the
    /// ints and the floats, each in argument order.
    public struct HostArguments {
        public let buffers: [UnsafeMutablePointer<Float>]
        public let ints: [Int]
        public let floats: [Float]
    }

    public let file: String
    public let name: String
    public let arguments: [Argument]
    public let global: [Int]
    /// Work-group size; nil lets the OpenCL driver choose.
    public let local: [Int]?
    /// Build options (`-DNAME=value` for the file's tunables).
    public let options: String
    public let cpu: (HostArguments) -> Void

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
