/// The device interface: memory, transfers and a small set of primitives.
/// Everything above it (composite ops, the graph, training) is written once
/// against this protocol, so the CPU path and OpenCL run the same code and
/// the tests compare them primitive by primitive.
///
/// Work is enqueued in order; `read` waits for what came before it.
/// A backend is used from one thread at a time.
public protocol Backend: AnyObject {
    /// "cpu" or "opencl:P:D (device name)".
    var name: String { get }
    var pool: BufferPool { get }

    func write(_ values: [Float], to buffer: DeviceBuffer) throws
    func read(_ buffer: DeviceBuffer) throws -> [Float]
    func fill(_ buffer: DeviceBuffer, with value: Float) throws
    func copy(_ source: DeviceBuffer, to destination: DeviceBuffer) throws
    /// Waits for all enqueued work.
    func synchronize() throws
    /// `count` floats of `buffer` from `offset`, sharing its memory.
    /// `offset` must be a multiple of `viewAlignment`.
    func view(of buffer: DeviceBuffer, offset: Int, count: Int) throws -> DeviceBuffer
    /// Offsets of views must be multiples of this many floats.
    var viewAlignment: Int { get }

    /// C = alpha op(A) op(B) + beta C, then the epilogue (bias per column).
    func gemm(_ shape: GemmShape, a: DeviceBuffer, b: DeviceBuffer, c: DeviceBuffer, epilogue: Epilogue?) throws
    /// Image (N,C,H,W) -> columns [C*R*S, N*P*Q].
    func im2col(_ geometry: ConvGeometry, image: DeviceBuffer, columns: DeviceBuffer) throws
    /// Columns -> image, summing overlaps; overwrites `image`.
    func col2im(_ geometry: ConvGeometry, columns: DeviceBuffer, image: DeviceBuffer) throws
    /// y (N,K,P,Q) = conv(x (N,C,H,W), w (K,C,R,S)), then the epilogue.
    /// Default: im2col + GEMM.
    func convolutionForward(_ geometry: ConvGeometry, input: DeviceBuffer, weight: DeviceBuffer,
                            output: DeviceBuffer, epilogue: Epilogue?) throws
    /// dx (N,C,H,W) from dy (N,K,P,Q) and w; overwrites dx, then applies the
    /// epilogue (as the forward pass of a transposed convolution).
    func convolutionBackwardData(_ geometry: ConvGeometry, outputGradient: DeviceBuffer, weight: DeviceBuffer,
                                 inputGradient: DeviceBuffer, epilogue: Epilogue?) throws
    /// dw (K,C,R,S) = (accumulate ? dw : 0) + the gradient from x and dy.
    func convolutionBackwardWeights(_ geometry: ConvGeometry, input: DeviceBuffer, outputGradient: DeviceBuffer,
                                    weightGradient: DeviceBuffer, accumulate: Bool) throws
    /// BatchNorm's training pass and its gradient, each fused with the
    /// activation that follows (see Primitives/BatchNorm.swift for the checked
    /// entry points and the default, made of the other primitives).
    func fusedBatchNormForward(layout: ChannelLayout, input: DeviceBuffer, state: BatchNormState,
                               activation: Activation, output: DeviceBuffer, saved: BatchNormSaved) throws
    func fusedBatchNormBackward(layout: ChannelLayout, input: DeviceBuffer, outputGradient: DeviceBuffer,
                                gamma: DeviceBuffer, saved: BatchNormSaved, activation: Activation,
                                activated: DeviceBuffer?, beta: DeviceBuffer?, inputGradient: DeviceBuffer,
                                gammaGradient: DeviceBuffer, betaGradient: DeviceBuffer) throws
    /// Strided block copy (concatenation and slicing along channels).
    func copyBlocks(_ copy: BlockCopy, from source: DeviceBuffer, to destination: DeviceBuffer) throws
    /// (a, b, inner) -> (b, a, inner).
    func swapAxes(a: Int, b: Int, inner: Int, input: DeviceBuffer, output: DeviceBuffer) throws
    /// `operands` in the order `op.signature` lists them.
    func pointwise(_ op: PointwiseOp, layout: ChannelLayout, operands: [DeviceBuffer]) throws
    /// One float into `output`.
    func reduce(_ op: ReduceOp, inputs: [DeviceBuffer], output: DeviceBuffer) throws
    /// The loss into `loss` (one float) and the gradient of `weight` x the
    /// loss with respect to inputs[0] into `gradient`. Default: the
    /// reduction, then one elementwise pass (Primitives/Reductions.swift).
    func lossWithGradient(_ op: ReduceOp, inputs: [DeviceBuffer], loss: DeviceBuffer, gradient: DeviceBuffer,
                          weight: Float) throws
    /// Enqueues a kernel written for both backends (DeviceKernel).
    func run(_ kernel: DeviceKernel) throws
    /// One float per channel into `output`.
    func reduceChannels(_ op: ChannelReduceOp, layout: ChannelLayout, scale: Float,
                        elements: [DeviceBuffer], channels: [DeviceBuffer], output: DeviceBuffer) throws
    /// Floating-point operations this backend performs for `pass` of `g`:
    /// g.flops (the direct algorithm's), unless it computes the pass with
    /// fewer (the CPU path's Winograd convolutions). Profiles report rates
    /// on g.flops (effective rates, comparable across algorithms and
    /// devices) and the share of the FMA peak on these.
    func performedFlops(_ g: ConvGeometry, pass: ConvPass) -> Double
    /// Capabilities (defaults in BackendCapabilities.swift): device-side
    /// launch timing, first-compile notices and the measured peak.
    var launchTimer: LaunchTimer? { get }
    func onCompile(_ handler: @escaping @Sendable (String) -> Void)
    func measurePeak(repeats: Int) throws -> DevicePeak
}

extension Backend {
    /// The convolution's multiply-adds times two (backends that pad or skip work say otherwise).
    public func performedFlops(_ g: ConvGeometry, pass: ConvPass) -> Double { g.flops }

    /// C = op(A) op(B), with no epilogue.
    public func gemm(_ shape: GemmShape, a: DeviceBuffer, b: DeviceBuffer, c: DeviceBuffer) throws {
        try gemm(shape, a: a, b: b, c: c, epilogue: nil)
    }

    /// The forward convolution, with no epilogue.
    public func convolutionForward(_ g: ConvGeometry, input: DeviceBuffer, weight: DeviceBuffer, output: DeviceBuffer) throws {
        try convolutionForward(g, input: input, weight: weight, output: output, epilogue: nil)
    }

    /// The gradient of the input, with no epilogue.
    public func convolutionBackwardData(_ g: ConvGeometry, outputGradient: DeviceBuffer, weight: DeviceBuffer,
                                        inputGradient: DeviceBuffer) throws {
        try convolutionBackwardData(g, outputGradient: outputGradient, weight: weight, inputGradient: inputGradient, epilogue: nil)
    }

    /// The gradient of the weights, with no epilogue.
    public func convolutionBackwardWeights(_ g: ConvGeometry, input: DeviceBuffer, outputGradient: DeviceBuffer,
                                           weightGradient: DeviceBuffer) throws {
        try convolutionBackwardWeights(g, input: input, outputGradient: outputGradient,
                                       weightGradient: weightGradient, accumulate: false)
    }

    /// A pooled buffer of `count` floats, contents undefined.
    public func buffer(count: Int) throws -> DeviceBuffer {
        try pool.buffer(count: count)
    }

    /// A pooled buffer holding `values`.
    public func buffer(_ values: [Float]) throws -> DeviceBuffer {
        let b = try pool.buffer(count: values.count)
        try write(values, to: b)
        return b
    }

    /// Elementwise op over a flat buffer (no channel structure).
    public func pointwise(_ op: PointwiseOp, count: Int, operands: [DeviceBuffer]) throws {
        try pointwise(op, layout: ChannelLayout(outer: 1, channels: 1, inner: count), operands: operands)
    }

    func validateView(of buffer: DeviceBuffer, offset: Int, count: Int) throws {
        guard offset >= 0, count > 0, offset + count <= buffer.count else {
            throw ShapeError("a view of \(count) floats at \(offset) does not fit a buffer of \(buffer.count)")
        }
        guard offset % viewAlignment == 0 else {
            throw ShapeError("view offset \(offset) is not a multiple of the device's alignment, \(viewAlignment) floats")
        }
    }

    /// Checks operands against an op's signature, for every backend alike.
    func validatePointwise(_ op: PointwiseOp, layout: ChannelLayout, operands: [DeviceBuffer]) throws {
        let sig = op.signature
        try op.validate()
        guard operands.count == sig.operands.count else {
            throw ShapeError("\(sig.name) takes \(sig.operands.count) buffers (\(sig.operands.map(\.name).joined(separator: ", "))), got \(operands.count)")
        }
        guard layout.count > 0 else { throw ShapeError("\(sig.name) over an empty buffer") }
        try ShapeError.expectIndexable(layout.count, sig.name)
        for (operand, buffer) in zip(sig.operands, operands) {
            let expected = operand.role == .perChannel ? layout.channels : layout.count
            try ShapeError.expect(buffer, count: expected, "\(sig.name) operand \(operand.name)")
        }
    }

    func validateReduce(_ op: ReduceOp, inputs: [DeviceBuffer], output: DeviceBuffer) throws {
        guard inputs.count == op.arity else { throw ShapeError("\(op) reduction takes \(op.arity) inputs, got \(inputs.count)") }
        guard let n = inputs.first?.count, n > 0 else { throw ShapeError("\(op) reduction over an empty buffer") }
        for input in inputs { try ShapeError.expect(input, count: n, "\(op) reduction input") }
        try ShapeError.expect(output, count: 1, "\(op) reduction output")
        try ShapeError.expectIndexable(n, "\(op) reduction")
    }

    func validateChannelReduce(_ op: ChannelReduceOp, layout: ChannelLayout,
                               elements: [DeviceBuffer], channels: [DeviceBuffer], output: DeviceBuffer) throws {
        guard elements.count == op.elementInputs, channels.count == op.channelInputs else {
            throw ShapeError("\(op) channel reduction takes \(op.elementInputs) element and \(op.channelInputs) channel inputs")
        }
        guard layout.count > 0 else { throw ShapeError("\(op) channel reduction over an empty layout") }
        for e in elements { try ShapeError.expect(e, count: layout.count, "\(op) channel reduction input") }
        for c in channels { try ShapeError.expect(c, count: layout.channels, "\(op) channel reduction per-channel input") }
        try ShapeError.expect(output, count: layout.channels, "\(op) channel reduction output")
        try ShapeError.expectIndexable(layout.count, "\(op) channel reduction")
    }

    func validateIm2col(_ g: ConvGeometry, image: DeviceBuffer, columns: DeviceBuffer) throws {
        try g.validate()
        try ShapeError.expect(image, count: g.inputCount, "convolution \(g) image")
        try ShapeError.expect(columns, count: g.columnCount, "convolution \(g) columns")
    }

    func validateBlockCopy(_ c: BlockCopy, from source: DeviceBuffer, to destination: DeviceBuffer) throws {
        guard c.blocks > 0, c.length > 0, c.sourceOffset >= 0, c.destinationOffset >= 0 else {
            throw ShapeError("block copy \(c): sizes must be positive")
        }
        guard c.sourceOffset + (c.blocks - 1) * c.sourceStride + c.length <= source.count,
              c.destinationOffset + (c.blocks - 1) * c.destinationStride + c.length <= destination.count else {
            throw ShapeError("block copy \(c) reaches past its buffers (\(source.count) and \(destination.count) floats)")
        }
        try ShapeError.expectIndexable(max(source.count, destination.count), "block copy")
    }

    func validateSwap(a: Int, b: Int, inner: Int, input: DeviceBuffer, output: DeviceBuffer) throws {
        guard a > 0, b > 0, inner > 0 else { throw ShapeError("axis swap \(a)x\(b)x\(inner): sizes must be positive") }
        try ShapeError.expect(input, count: a * b * inner, "axis swap \(a)x\(b)x\(inner) input")
        try ShapeError.expect(output, count: a * b * inner, "axis swap \(a)x\(b)x\(inner) output")
        try ShapeError.expectIndexable(a * b * inner, "axis swap")
    }
}
