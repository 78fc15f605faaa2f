import CAtelier

// Each wrapper owns one OpenCL object and releases it in deinit. They are
// @unchecked Sendable because OpenCL objects may be retained and released
// from any thread; the one unsafe operation, clSetKernelArg on a shared
// kernel, is serialised by OpenCLBackend's lock.

final class CLContext: @unchecked Sendable {
    let handle: OpaquePointer
    init(device: OpaquePointer) throws {
        var status: cl_int = 0
        var dev: cl_device_id? = device
        guard let context = aclCreateContext(nil, 1, &dev, nil, nil, &status), status == 0 else {
            throw OpenCLError.call(function: "clCreateContext", code: status)
        }
        handle = context
    }
    deinit { _ = aclReleaseContext(handle) }
}

final class CLQueue: @unchecked Sendable {
    let handle: OpaquePointer
    init(context: CLContext, device: OpaquePointer, profiling: Bool) throws {
        var status: cl_int = 0
        let properties = profiling ? cl_command_queue_properties(CL_QUEUE_PROFILING_ENABLE) : 0
        guard let queue = aclCreateCommandQueue(context.handle, device, properties, &status), status == 0 else {
            throw OpenCLError.call(function: "clCreateCommandQueue", code: status)
        }
        handle = queue
    }
    deinit { _ = aclReleaseCommandQueue(handle) }
}

final class CLProgram: @unchecked Sendable {
    let handle: OpaquePointer
    init(_ handle: OpaquePointer) { self.handle = handle }
    deinit { _ = aclReleaseProgram(handle) }
}

final class CLKernel: @unchecked Sendable {
    let handle: OpaquePointer
    let name: String
    // Keeps the program alive as long as its kernel.
    let program: CLProgram
    init(program: CLProgram, name: String) throws {
        var status: cl_int = 0
        guard let kernel = aclCreateKernel(program.handle, name, &status), status == 0 else {
            throw OpenCLError.call(function: "clCreateKernel(\(name))", code: status)
        }
        self.handle = kernel
        self.name = name
        self.program = program
    }
    deinit { _ = aclReleaseKernel(handle) }
}

final class CLStorage: BufferStorage, @unchecked Sendable {
    let capacity: Int
    let handle: OpaquePointer
    /// Set for a sub-buffer: the buffer it lies in.
    private let parent: CLStorage?

    /// A sub-buffer of `count` floats at `offset` (which must respect the
    /// device's base address alignment).
    init(subBufferOf parent: CLStorage, offset: Int, count: Int) throws {
        var region = cl_buffer_region(origin: offset * MemoryLayout<Float>.stride, size: count * MemoryLayout<Float>.stride)
        var status: cl_int = 0
        guard let mem = aclCreateSubBuffer(parent.handle, cl_mem_flags(CL_MEM_READ_WRITE),
                                           cl_buffer_create_type(CL_BUFFER_CREATE_TYPE_REGION), &region, &status),
              status == 0 else {
            throw OpenCLError.call(function: "clCreateSubBuffer(offset \(offset), \(count) floats)", code: status)
        }
        self.capacity = count
        self.handle = mem
        self.parent = parent
    }

    init(context: CLContext, capacity: Int) throws {
        self.parent = nil
        var status: cl_int = 0
        let bytes = max(capacity, 1) * MemoryLayout<Float>.stride
        guard let mem = aclCreateBuffer(context.handle, cl_mem_flags(CL_MEM_READ_WRITE), bytes, nil, &status), status == 0 else {
            throw OpenCLError.call(function: "clCreateBuffer(\(bytes) bytes)", code: status)
        }
        self.capacity = capacity
        self.handle = mem
    }
    deinit { _ = aclReleaseMemObject(handle) }
}
