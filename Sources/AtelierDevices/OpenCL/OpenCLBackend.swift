import CAtelier
import Foundation

/// The OpenCL path: one context and one in-order queue on one device. Work
/// is enqueued without waiting; only `read` and `synchronize` block.
public final class OpenCLBackend: Backend, @unchecked Sendable {
    // Safe to share: the kernel table and argument setting are guarded by
    // `lock`; OpenCL queues are thread-safe for enqueueing.
    public let info: OpenCLDeviceInfo
    public let tuning: DeviceTuning
    public let pool: BufferPool
    public var name: String { "opencl:\(info.id) (\(info.name))" }

    let device: OpenCLDeviceHandle
    let context: CLContext
    let queue: CLQueue
    let programs: ProgramCache
    private let lock = NSLock()
    private var kernels: [String: CLKernel] = [:]
    private let profiling: Bool
    public var profilingEnabled: Bool { profiling }
    /// With profiling: whether launches record events now. Turned off when a
    /// profile is over, so a long run does not pile up events nobody reads.
    public var recordsEvents = true
    private var events: [(String, cl_event)] = []

    /// `profiling` records an event per launch for `takeProfile()`.
    public convenience init(deviceID: String? = nil, profiling: Bool = false, tuning: DeviceTuning? = nil) throws {
        let handles = try OpenCLDevices.handles()
        let handle: OpenCLDeviceHandle
        if let deviceID {
            guard let match = handles.first(where: { $0.info.id == deviceID }) else {
                throw DeviceSelectionError.unknownOpenCLDevice(deviceID, available: handles.map(\.info))
            }
            handle = match
        } else {
            handle = handles.first(where: { $0.info.kind == .gpu }) ?? handles[0]
        }
        try self.init(handle: handle, profiling: profiling, tuning: tuning)
    }

    init(handle: OpenCLDeviceHandle, profiling: Bool, tuning: DeviceTuning?) throws {
        let tuning = tuning ?? TuningStore.load(for: handle.info) ?? DeviceTuning.defaults(for: handle.info)
        try tuning.validate(maxWorkGroupSize: handle.info.maxWorkGroupSize)
        self.info = handle.info
        self.device = handle
        self.tuning = tuning
        self.profiling = profiling
        let context = try CLContext(device: handle.device)
        self.context = context
        self.queue = try CLQueue(context: context, device: handle.device, profiling: profiling)
        self.programs = ProgramCache(context: context, device: handle)
        self.pool = BufferPool { try CLStorage(context: context, capacity: $0) }
    }

    /// Throws when `tuning` does not fit `device` (work-group limits, sizes).
    public static func checkTuning(_ tuning: DeviceTuning, for device: OpenCLDeviceInfo) throws -> DeviceTuning {
        try tuning.validate(maxWorkGroupSize: device.maxWorkGroupSize)
        return tuning
    }

    deinit {
        for (_, event) in events { _ = aclReleaseEvent(event) }
    }

    /// Called with the kernel file name before a program is compiled from
    /// source (a cold build takes about a second on PoCL).
    public func onCompile(_ report: @escaping @Sendable (String) -> Void) {
        programs.onSourceBuild = report
    }

    /// Event profiling, when the queue was made with it.
    public var launchTimer: LaunchTimer? { profilingEnabled ? self : nil }

    // MARK: Memory

    public func write(_ values: [Float], to buffer: DeviceBuffer) throws {
        try ShapeError.expect(buffer, count: values.count, "write")
        let status = values.withUnsafeBytes {
            aclEnqueueWriteBuffer(queue.handle, buffer.mem, cl_bool(CL_TRUE), 0, $0.count, $0.baseAddress, 0, nil, nil)
        }
        try clCheck(status, "clEnqueueWriteBuffer")
    }

    public func read(_ buffer: DeviceBuffer) throws -> [Float] {
        var values = [Float](repeating: 0, count: buffer.count)
        let status = values.withUnsafeMutableBytes {
            aclEnqueueReadBuffer(queue.handle, buffer.mem, cl_bool(CL_TRUE), 0, $0.count, $0.baseAddress, 0, nil, nil)
        }
        try clCheck(status, "clEnqueueReadBuffer")
        return values
    }

    public func fill(_ buffer: DeviceBuffer, with value: Float) throws {
        var pattern = value
        try clCheck(aclEnqueueFillBuffer(queue.handle, buffer.mem, &pattern, MemoryLayout<Float>.size, 0,
                                         buffer.count * MemoryLayout<Float>.size, 0, nil, nil), "clEnqueueFillBuffer")
    }

    public func copy(_ source: DeviceBuffer, to destination: DeviceBuffer) throws {
        try ShapeError.expect(destination, count: source.count, "copy destination")
        try clCheck(aclEnqueueCopyBuffer(queue.handle, source.mem, destination.mem, 0, 0,
                                         source.count * MemoryLayout<Float>.size, 0, nil, nil), "clEnqueueCopyBuffer")
    }

    public func synchronize() throws {
        try clCheck(aclFinish(queue.handle), "clFinish")
    }

    /// CL_DEVICE_MEM_BASE_ADDR_ALIGN, in floats (at least 16).
    public var viewAlignment: Int { max(16, Int(info.baseAddressAlignmentBits) / 32) }

    public func view(of buffer: DeviceBuffer, offset: Int, count: Int) throws -> DeviceBuffer {
        try validateView(of: buffer, offset: offset, count: count)
        guard let storage = buffer.storage as? CLStorage else { preconditionFailure("not an OpenCL buffer") }
        return DeviceBuffer(count: count, storage: try CLStorage(subBufferOf: storage, offset: offset, count: count), pool: nil)
    }

    // MARK: Kernels

    enum Argument {
        case buffer(DeviceBuffer)
        case int(Int)
        case float(Float)
    }

    /// The kernel `name` of `file`, built with `options` after `prelude`
    /// (generated `#define`s) is put before the file's source.
    func kernel(file: String, name: String, options: String = "", prelude: String = "") throws -> CLKernel {
        let key = "\(file)|\(name)|\(options)|\(prelude)"
        if let k = lock.withLock({ kernels[key] }) { return k }
        let source = prelude.isEmpty ? try KernelSources.source(named: file)
                                     : prelude + "\n" + (try KernelSources.source(named: file))
        let program = try programs.program(file: file, source: source, options: "-cl-std=CL1.2 " + options)
        let k = try CLKernel(program: program, name: name)
        lock.withLock { kernels[key] = k }
        return k
    }

    /// Enqueues `kernel` over `global` items (rounded up to whole work-groups
    /// of `local`; kernels check their bounds).
    func launch(_ kernel: CLKernel, _ arguments: [Argument], global: [Int], local: [Int]?) throws {
        try lock.withLock {
            for (i, argument) in arguments.enumerated() {
                let status: cl_int
                switch argument {
                case .buffer(let b):
                    var mem: cl_mem? = b.mem
                    status = aclSetKernelArg(kernel.handle, cl_uint(i), MemoryLayout<cl_mem>.size, &mem)
                case .int(let v):
                    var value = cl_int(truncatingIfNeeded: v)
                    status = aclSetKernelArg(kernel.handle, cl_uint(i), MemoryLayout<cl_int>.size, &value)
                case .float(let v):
                    var value = v
                    status = aclSetKernelArg(kernel.handle, cl_uint(i), MemoryLayout<Float>.size, &value)
                }
                try clCheck(status, "clSetKernelArg(\(kernel.name), \(i))")
            }
            var globalSize = global
            if let local {
                globalSize = zip(global, local).map { g, l in (g + l - 1) / l * l }
            }
            var event: cl_event?
            let status = globalSize.withUnsafeBufferPointer { g in
                (local ?? []).withUnsafeBufferPointer { l in
                    let localPointer = local == nil ? nil : l.baseAddress
                    if profiling && recordsEvents {
                        return aclEnqueueNDRangeKernel(queue.handle, kernel.handle, cl_uint(g.count), nil, g.baseAddress,
                                                       localPointer, 0, nil, &event)
                    }
                    return aclEnqueueNDRangeKernel(queue.handle, kernel.handle, cl_uint(g.count), nil, g.baseAddress,
                                                   localPointer, 0, nil, nil)
                }
            }
            try clCheck(status, "clEnqueueNDRangeKernel(\(kernel.name), global \(globalSize), local \(local.map { "\($0)" } ?? "auto"))")
            if let event { events.append((kernel.name, event)) }
        }
    }

    /// Kernel name and device time (ns) of each launch since the last call,
    /// from OpenCL event profiling. Waits for them to finish.
    public func takeProfile() throws -> [(kernel: String, nanoseconds: UInt64)] {
        let taken = lock.withLock { () -> [(String, cl_event)] in
            defer { events.removeAll() }
            return events
        }
        try synchronize()
        var result: [(kernel: String, nanoseconds: UInt64)] = []
        for (name, event) in taken {
            defer { _ = aclReleaseEvent(event) }
            var start: cl_ulong = 0, end: cl_ulong = 0
            try clCheck(aclGetEventProfilingInfo(event, cl_profiling_info(CL_PROFILING_COMMAND_START), 8, &start, nil), "clGetEventProfilingInfo")
            try clCheck(aclGetEventProfilingInfo(event, cl_profiling_info(CL_PROFILING_COMMAND_END), 8, &end, nil), "clGetEventProfilingInfo")
            result.append((name, end >= start ? end - start : 0))
        }
        return result
    }

    private var pointwiseLocal: [Int] { [tuning.pointwiseLocal] }

    // MARK: Primitives

    public func gemm(_ s: GemmShape, a: DeviceBuffer, b: DeviceBuffer, c: DeviceBuffer, epilogue: Epilogue?) throws {
        try s.validate(a: a, b: b, c: c)
        try epilogue?.validate(channels: s.n, count: s.cCount, "GEMM \(s)")
        try gemmKernels(s, a: a, b: b, c: c)
        try applyEpilogue(epilogue, layout: ChannelLayout(outer: s.m, channels: s.n, inner: 1), to: c)
    }

    private func gemmKernels(_ s: GemmShape, a: DeviceBuffer, b: DeviceBuffer, c: DeviceBuffer) throws {
        try ShapeError.expectIndexable(max(s.aCount, s.bCount, s.cCount), "GEMM \(s)")
        let dims: [Argument] = [.int(s.m), .int(s.n), .int(s.k), .float(s.alpha), .float(s.beta)]
        switch tuning.gemm {
        case .blocked(let rows, let width, let lx, let ly):
            if s.transposeB && !s.transposeA {
                let (rb, cb) = (tuning.dotRows, tuning.dotColumns)
                let k = try kernel(file: "gemm.cl", name: "gemm_blocked_nt", options: "-DGEMM_NT_RB=\(rb) -DGEMM_NT_CB=\(cb)")
                try launch(k, dims + [.buffer(a), .buffer(b), .buffer(c)],
                           global: [(s.n + cb - 1) / cb, (s.m + rb - 1) / rb], local: [lx, ly])
                return
            }
            var bOperand = b
            if s.transposeB {
                // gemm_blocked reads rows of B as vectors; give it B^T laid out row-major.
                bOperand = try buffer(count: s.bCount)
                try swapAxes(a: s.n, b: s.k, inner: 1, input: b, output: bOperand)
            }
            let k = try kernel(file: "gemm.cl", name: "gemm_blocked",
                               options: "-DGEMM_TRANS_A=\(s.transposeA ? 1 : 0) -DGEMM_RB=\(rows) -DGEMM_VW=\(width)")
            try launch(k, dims + [.buffer(a), .buffer(bOperand), .buffer(c)],
                       global: [(s.n + width - 1) / width, (s.m + rows - 1) / rows], local: [lx, ly])
        case .tiled(let tm, let tn, let tk, let wm, let wn):
            let k = try kernel(file: "gemm.cl", name: "gemm_tiled",
                               options: "-DGEMM_TRANS_A=\(s.transposeA ? 1 : 0) -DGEMM_TRANS_B=\(s.transposeB ? 1 : 0)"
                                   + " -DGEMM_TSM=\(tm) -DGEMM_TSN=\(tn) -DGEMM_TSK=\(tk) -DGEMM_WPTM=\(wm) -DGEMM_WPTN=\(wn)")
            let lx = tn / wn, ly = tm / wm
            try launch(k, dims + [.buffer(a), .buffer(b), .buffer(c)],
                       global: [(s.n + tn - 1) / tn * lx, (s.m + tm - 1) / tm * ly], local: [lx, ly])
        }
    }

    /// im2col and col2im are compiled per layer shape (see layout.cl).
    private func convKernel(_ name: String, _ g: ConvGeometry) throws -> CLKernel {
        try kernel(file: "layout.cl", name: name, options: Self.convOptions(g))
    }

    public func im2col(_ g: ConvGeometry, image: DeviceBuffer, columns: DeviceBuffer) throws {
        try validateIm2col(g, image: image, columns: columns)
        try launch(try convKernel("im2col", g), [.buffer(image), .buffer(columns)], global: [g.columnCount], local: pointwiseLocal)
    }

    public func col2im(_ g: ConvGeometry, columns: DeviceBuffer, image: DeviceBuffer) throws {
        try validateIm2col(g, image: image, columns: columns)
        try launch(try convKernel("col2im", g), [.buffer(columns), .buffer(image)], global: [g.inputCount], local: pointwiseLocal)
    }

    public func copyBlocks(_ c: BlockCopy, from source: DeviceBuffer, to destination: DeviceBuffer) throws {
        try validateBlockCopy(c, from: source, to: destination)
        let k = try kernel(file: "layout.cl", name: "copy_blocks")
        try launch(k, [.int(c.length), .int(c.sourceStride), .int(c.sourceOffset), .int(c.destinationStride),
                       .int(c.destinationOffset), .buffer(source), .buffer(destination)],
                   rows: (c.length, [c.blocks]))
    }

    public func swapAxes(a: Int, b: Int, inner: Int, input: DeviceBuffer, output: DeviceBuffer) throws {
        try validateSwap(a: a, b: b, inner: inner, input: input, output: output)
        if inner == 1, tuning.transposeTile > 1 {
            let tile = tuning.transposeTile
            let k = try kernel(file: "layout.cl", name: "transpose_tiles", options: "-DSWAP_TILE=\(tile)")
            try launch(k, [.int(a), .int(b), .buffer(input), .buffer(output)],
                       global: [(b + tile - 1) / tile, (a + tile - 1) / tile], local: [1, 1])
            return
        }
        let k = try kernel(file: "layout.cl", name: "swap_axes")
        try launch(k, [.int(a), .int(b), .int(inner), .buffer(input), .buffer(output)],
                   rows: inner == 1 ? (b, [a]) : (inner, [b, a]))
    }

    /// Launches over (first, rest...) with work-groups along the first,
    /// contiguous axis: the whole of it when it fits, so no item is wasted.
    private func launch(_ k: CLKernel, _ arguments: [Argument], rows: (first: Int, rest: [Int])) throws {
        let group = min(rows.first, tuning.pointwiseLocal)
        try launch(k, arguments, global: [rows.first] + rows.rest, local: [group] + rows.rest.map { _ in 1 })
    }

    public func pointwise(_ op: PointwiseOp, layout: ChannelLayout, operands: [DeviceBuffer]) throws {
        try validatePointwise(op, layout: layout, operands: operands)
        let sig = op.signature
        let perChannel = sig.operands.contains { $0.role == .perChannel }
        let width = tuning.pointwiseVector
        let k = try kernel(file: "pointwise.cl", name: "pointwise",
                           options: "-DATELIER_POLY_EXP=\(tuning.polynomialExp ? 1 : 0)",
                           prelude: try KernelSources.source(named: "fastmath.cl") + "\n" + KernelSources.source(named: "formulas.cl") + "\n"
                               + Self.pointwisePrelude(sig, vectorWidth: width))
        let arguments: [Argument] = [.int(layout.count), .int(layout.inner), .int(layout.channels)]
            + operands.map { .buffer($0) } + op.scalars.map { .float($0) }
        guard perChannel else {
            try launch(k, arguments, global: [(layout.count + width - 1) / width], local: pointwiseLocal)
            return
        }
        try launch(k, arguments, rows: layout.inner == 1 ? (layout.channels, [layout.outer])
                                                         : ((layout.inner + width - 1) / width, [layout.channels, layout.outer]))
    }

    /// The macros `Kernels/pointwise.cl` expects, from an op's signature.
    static func pointwisePrelude(_ sig: PointwiseOp.Signature, vectorWidth: Int) -> String {
        var params = "", loadS = "", loadV = "", storeS = "", storeV = ""
        for operand in sig.operands {
            let n = operand.name
            let qualifier = operand.role == .input || operand.role == .perChannel ? "const " : ""
            params += ", __global \(qualifier)float *\(n)_p"
            switch operand.role {
            case .input:
                loadS += "const T \(n) = \(n)_p[i]; "
                loadV += "const T \(n) = PW_VLOAD(\(n)_p, i); "
            case .perChannel:
                loadS += "const float \(n) = \(n)_p[c]; "
                loadV += "const float \(n) = \(n)_p[c]; "
            case .output:
                loadS += "T \(n); "
                loadV += "T \(n); "
            case .inOut:
                loadS += "T \(n) = \(n)_p[i]; "
                loadV += "T \(n) = PW_VLOAD(\(n)_p, i); "
            }
            if operand.role == .output || operand.role == .inOut {
                storeS += "\(n)_p[i] = \(n); "
                storeV += "PW_VSTORE(\(n), \(n)_p, i); "
            }
        }
        for scalar in sig.scalarNames { params += ", const float \(scalar)" }
        let channels = sig.operands.contains { $0.role == .perChannel }
        let body = sig.body.replacingOccurrences(of: "\n", with: " ")
        return """
        // pointwise op: \(sig.name)
        #define PW_PARAMS \(params)
        #define PW_LOAD_S \(loadS)
        #define PW_LOAD_V \(loadV)
        #define PW_BODY \(body)
        #define PW_STORE_S \(storeS)
        #define PW_STORE_V \(storeV)
        #define PW_VW \(vectorWidth)
        #define PW_CHANNELS \(channels ? 1 : 0)
        """
    }

    public func reduce(_ op: ReduceOp, inputs: [DeviceBuffer], output: DeviceBuffer) throws {
        try validateReduce(op, inputs: inputs, output: output)
        try reduce(op, inputs: inputs, output: output, gradient: nil, weight: 1)
    }

    /// Two launches instead of three: the first stage of the reduction
    /// also writes the gradient.
    public func lossWithGradient(_ op: ReduceOp, inputs: [DeviceBuffer], loss: DeviceBuffer, gradient: DeviceBuffer,
                                 weight: Float) throws {
        try validateReduce(op, inputs: inputs, output: loss)
        try ShapeError.expect(gradient, count: inputs[0].count, "\(op) loss gradient")
        try reduce(op, inputs: inputs, output: loss, gradient: gradient, weight: weight)
    }

    /// Partial sums over contiguous chunks, then their sum in order; with
    /// `gradient`, the first stage writes it too (reduce.cl's GRAD_MAP).
    private func reduce(_ op: ReduceOp, inputs: [DeviceBuffer], output: DeviceBuffer, gradient: DeviceBuffer?, weight: Float) throws {
        let n = inputs[0].count
        let partials = min(tuning.reducePartials, n)
        let chunk = ((n + partials - 1) / partials + 7) / 8 * 8  // whole float8 vectors
        let used = (n + chunk - 1) / chunk
        let partial = try buffer(count: used)
        var prelude = try KernelSources.source(named: "formulas.cl") + "\n#define REDUCE_MAP \(op.expression)"
        if gradient != nil { prelude += "\n#define GRAD_MAP \(op.gradientExpression)" }
        let stage1 = try kernel(file: "reduce.cl", name: "reduce_partial", prelude: prelude)
        try launch(stage1, [.int(n), .int(chunk), .float(op.gradientScale(count: n, weight: weight)), .buffer(inputs[0]),
                            .buffer(inputs[op.arity - 1]), .buffer(partial)] + (gradient.map { [.buffer($0)] } ?? []),
                   global: [used], local: [min(tuning.reduceLocal, used)])
        let stage2 = try kernel(file: "reduce.cl", name: "reduce_final", prelude: prelude)
        try launch(stage2, [.int(used), .float(op.divides ? 1 / Float(n) : 1), .buffer(partial), .buffer(output)],
                   global: [1], local: [1])
    }

    public func run(_ kernel: DeviceKernel) throws {
        let k = try self.kernel(file: kernel.file, name: kernel.name, options: kernel.options)
        let arguments: [Argument] = kernel.arguments.map {
            switch $0 {
            case .buffer(let b): .buffer(b)
            case .int(let v): .int(v)
            case .float(let v): .float(v)
            }
        }
        try launch(k, arguments, global: kernel.global, local: kernel.local)
    }

    public func reduceChannels(_ op: ChannelReduceOp, layout: ChannelLayout, scale: Float,
                               elements: [DeviceBuffer], channels: [DeviceBuffer], output: DeviceBuffer) throws {
        try validateChannelReduce(op, layout: layout, elements: elements, channels: channels, output: output)
        let wg = tuning.channelReduceLocal
        let k = try kernel(file: "reduce.cl", name: "reduce_channels", options: "-DCR_WG=\(wg)",
                           prelude: "#define CHANNEL_MAP \(op.expression)")
        // Unused per-channel inputs are bound to the first element input,
        // which is read-only and holds at least one float per channel.
        let u = channels.first ?? elements[0], v = channels.last ?? elements[0]
        try launch(k, [.int(layout.outer), .int(layout.channels), .int(layout.inner), .float(scale),
                       .buffer(elements[0]), .buffer(elements[elements.count - 1]), .buffer(u), .buffer(v), .buffer(output)],
                   global: [layout.channels * wg], local: [wg])
    }
}

extension DeviceBuffer {
    var mem: OpaquePointer {
        guard let storage = storage as? CLStorage else {
            preconditionFailure("a buffer of another device was passed to the OpenCL backend")
        }
        return storage.handle
    }
}

extension OpenCLBackend: LaunchTimer {
    public func startRecording() throws {
        recordsEvents = true
        _ = try takeProfile()
    }

    public func takeLaunchTimes() throws -> [(kernel: String, nanoseconds: UInt64)] { try takeProfile() }

    public func stopRecording() {
        _ = try? takeProfile()
        recordsEvents = false
    }

    public var timingDescription: String { "OpenCL event profiling, device time" }
}
