/// Everything that can go wrong talking to OpenCL, phrased for the user.
public enum OpenCLError: Error, CustomStringConvertible, Sendable {
    /// No ICD loader, or it found no platform: "no OpenCL here".
    case unavailable(String)
    /// OpenCL is installed but cannot run here; the reason names the fix.
    case unusable(String)
    /// An OpenCL call returned an error code.
    case call(function: String, code: Int32)
    /// clBuildProgram failed; carries everything needed to reproduce it.
    case build(kernelFile: String, options: String, device: String, log: String)

    public var description: String {
        switch self {
        case .unavailable(let reason):
            return "OpenCL is not available: \(reason). Install an OpenCL driver (for a CPU: `apt-get install pocl-opencl-icd ocl-icd-libopencl1`) or use --device cpu."
        case .unusable(let reason):
            return "OpenCL is installed but unusable: \(reason) (or use --device cpu)."
        case .call(let function, let code):
            var text = "\(function) failed with \(OpenCLError.name(of: code)) (\(code))"
            if let hint = OpenCLError.hint(for: code) { text += ": \(hint)" }
            return text
        case .build(let kernelFile, let options, let device, let log):
            return """
            OpenCL kernel \(kernelFile) failed to build for \(device)
            build options: \(options.isEmpty ? "(none)" : options)
            build log:
            \(log.trimmingCharacters(in: .whitespacesAndNewlines))
            """
        }
    }

    static func hint(for code: Int32) -> String? {
        switch code {
        case -4, -5, -6: "the device ran out of memory; use a smaller --batch-size"
        case -1001: "no OpenCL platform is installed (no ICD file in /etc/OpenCL/vendors or OCL_ICD_VENDORS)"
        case -1: "no OpenCL device of the requested type"
        default: nil
        }
    }

    /// The symbolic name of an OpenCL error code, as in cl.h.
    public static func name(of code: Int32) -> String {
        codeNames[code] ?? "unknown OpenCL error"
    }

    private static let codeNames: [Int32: String] = [
        0: "CL_SUCCESS", -1: "CL_DEVICE_NOT_FOUND", -2: "CL_DEVICE_NOT_AVAILABLE",
        -3: "CL_COMPILER_NOT_AVAILABLE", -4: "CL_MEM_OBJECT_ALLOCATION_FAILURE",
        -5: "CL_OUT_OF_RESOURCES", -6: "CL_OUT_OF_HOST_MEMORY",
        -7: "CL_PROFILING_INFO_NOT_AVAILABLE", -8: "CL_MEM_COPY_OVERLAP", -9: "CL_IMAGE_FORMAT_MISMATCH",
        -10: "CL_IMAGE_FORMAT_NOT_SUPPORTED", -11: "CL_BUILD_PROGRAM_FAILURE", -12: "CL_MAP_FAILURE",
        -13: "CL_MISALIGNED_SUB_BUFFER_OFFSET", -14: "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST",
        -15: "CL_COMPILE_PROGRAM_FAILURE", -16: "CL_LINKER_NOT_AVAILABLE", -17: "CL_LINK_PROGRAM_FAILURE",
        -18: "CL_DEVICE_PARTITION_FAILED", -19: "CL_KERNEL_ARG_INFO_NOT_AVAILABLE",
        -30: "CL_INVALID_VALUE", -31: "CL_INVALID_DEVICE_TYPE", -32: "CL_INVALID_PLATFORM",
        -33: "CL_INVALID_DEVICE", -34: "CL_INVALID_CONTEXT", -35: "CL_INVALID_QUEUE_PROPERTIES",
        -36: "CL_INVALID_COMMAND_QUEUE", -37: "CL_INVALID_HOST_PTR", -38: "CL_INVALID_MEM_OBJECT",
        -39: "CL_INVALID_IMAGE_FORMAT_DESCRIPTOR", -40: "CL_INVALID_IMAGE_SIZE", -41: "CL_INVALID_SAMPLER",
        -42: "CL_INVALID_BINARY", -43: "CL_INVALID_BUILD_OPTIONS", -44: "CL_INVALID_PROGRAM",
        -45: "CL_INVALID_PROGRAM_EXECUTABLE", -46: "CL_INVALID_KERNEL_NAME", -47: "CL_INVALID_KERNEL_DEFINITION",
        -48: "CL_INVALID_KERNEL", -49: "CL_INVALID_ARG_INDEX", -50: "CL_INVALID_ARG_VALUE",
        -51: "CL_INVALID_ARG_SIZE", -52: "CL_INVALID_KERNEL_ARGS", -53: "CL_INVALID_WORK_DIMENSION",
        -54: "CL_INVALID_WORK_GROUP_SIZE", -55: "CL_INVALID_WORK_ITEM_SIZE", -56: "CL_INVALID_GLOBAL_OFFSET",
        -57: "CL_INVALID_EVENT_WAIT_LIST", -58: "CL_INVALID_EVENT", -59: "CL_INVALID_OPERATION",
        -60: "CL_INVALID_GL_OBJECT", -61: "CL_INVALID_BUFFER_SIZE", -62: "CL_INVALID_MIP_LEVEL",
        -63: "CL_INVALID_GLOBAL_WORK_SIZE", -64: "CL_INVALID_PROPERTY", -65: "CL_INVALID_IMAGE_DESCRIPTOR",
        -66: "CL_INVALID_COMPILER_OPTIONS", -67: "CL_INVALID_LINKER_OPTIONS", -68: "CL_INVALID_DEVICE_PARTITION_COUNT",
        -69: "CL_INVALID_PIPE_SIZE", -70: "CL_INVALID_DEVICE_QUEUE",
        -1001: "CL_PLATFORM_NOT_FOUND_KHR",
    ]
}

@inline(__always)
func clCheck(_ code: Int32, _ function: @autoclosure () -> String) throws {
    if code != 0 { throw OpenCLError.call(function: function(), code: code) }
}
