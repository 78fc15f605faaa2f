import CAtelier
import Foundation

/// The native CPU path: OpenBLAS for GEMM, C loops (Sources/CAtelier) for
/// the rest. It is also the reference every OpenCL kernel is tested against.
///
/// OpenBLAS runs one thread per call: the CPU path splits work over the
/// cores itself (Parallel), so OpenBLAS's own threads would only compete
/// with it, spinning between calls while the C loops run.
public final class CPUBackend: Backend {
    public let name = "cpu"
    public let pool = BufferPool { try HostStorage(capacity: $0) }
    let convolution: CPUConvolution
    let winograd3x3 = CPUWinograd3x3()
    private let direct = CPUDirectConvolution()
    private let gemmScratch = CPUGemmScratch()
    /// Whether dense products may run on the register tiles (CPUGemm.tiles by default).
    let gemmTiles: Bool
    public let tuning: CPUTuning

    /// With the tuning `atelier-bench --device cpu --tune --save` stored for
    /// this CPU, else the defaults.
    public convenience init() {
        self.init(tuning: CPUTuningStore.load() ?? .defaults)
    }

    public convenience init(tuning: CPUTuning) {
        self.init(tuning: tuning, convolutionAlgorithm: nil)
    }

    /// A forced column layout applies to one-channel layers too (their
    /// forward pass otherwise runs directly), so tests reach every path.
    init(tuning: CPUTuning, convolutionAlgorithm: CPUConvolution.Algorithm?, gemmTiles: Bool = CPUGemm.tiles) {
        _ = Self.singleThreadedBLAS
        self.tuning = tuning
        self.gemmTiles = gemmTiles
        convolution = CPUConvolution(tuning: tuning, algorithm: convolutionAlgorithm,
                                     singleChannelDirect: convolutionAlgorithm == nil)
    }

    /// Tests make chunks small to exercise their edges and force each
    /// algorithm on every shape.
    convenience init(convolutionChunkBytes: Int, convolutionAlgorithm: CPUConvolution.Algorithm? = nil) {
        self.init(tuning: CPUTuning(convolutionChunkBytes: convolutionChunkBytes), convolutionAlgorithm: convolutionAlgorithm)
    }

    private static let singleThreadedBLAS: Void = openblas_set_num_threads(1)

    public func performedFlops(_ g: ConvGeometry, pass: ConvPass) -> Double {
        if winograd3x3Applies(g) { return 2 * CPUWinograd3x3.multiplyAdds(g) }
        return splitsWithinSamples(g) ? g.flops : convolution.performedFlops(g, pass: pass)
    }

    /// Whether `g` runs by Winograd's F(4x4, 3x3) (CPUWinograd3x3), at any
    /// batch: with the tuning's switch, and not when a test forces a column
    /// layout.
    func winograd3x3Applies(_ g: ConvGeometry) -> Bool {
        tuning.winograd3x3Convolutions && convolution.forcedAlgorithm == nil && CPUWinograd3x3.applies(g)
    }

    /// Whether `g` runs directly along output rows (CPUDirectConvolution):
    /// stride 1 with at most 4 channels on one side, unless a test forces a
    /// column layout.
    func directApplies(_ g: ConvGeometry) -> Bool {
        convolution.forcedAlgorithm == nil && CPUDirectConvolution.applies(g)
    }

    public func write(_ values: [Float], to buffer: DeviceBuffer) throws {
        try ShapeError.expect(buffer, count: values.count, "write")
        values.withUnsafeBufferPointer { buffer.host.update(from: $0.baseAddress!, count: values.count) }
    }

    public func read(_ buffer: DeviceBuffer) throws -> [Float] {
        Array(UnsafeBufferPointer(start: buffer.host, count: buffer.count))
    }

    public func fill(_ buffer: DeviceBuffer, with value: Float) throws {
        buffer.host.update(repeating: value, count: buffer.count)
    }

    public func copy(_ source: DeviceBuffer, to destination: DeviceBuffer) throws {
        try ShapeError.expect(destination, count: source.count, "copy destination")
        destination.host.update(from: source.host, count: source.count)
    }

    public func synchronize() throws {}

    public let viewAlignment = 16  // 64 bytes: views stay vector-aligned

    public func view(of buffer: DeviceBuffer, offset: Int, count: Int) throws -> DeviceBuffer {
        try validateView(of: buffer, offset: offset, count: count)
        return buffer.hostView(offset: offset, count: count)
    }

    public func gemm(_ s: GemmShape, a: DeviceBuffer, b: DeviceBuffer, c: DeviceBuffer, epilogue: Epilogue?) throws {
        try s.validate(a: a, b: b, c: c)
        try epilogue?.validate(channels: s.n, count: s.cCount, "GEMM \(s)")
        CPUGemm.run(s, a.host, b.host, c.host, epilogue: CPUEpilogue(epilogue), tiles: gemmTiles ? gemmScratch : nil)
    }

    /// Whether `g` runs as one whole-batch im2col + GEMM, split over the
    /// cores within the samples, instead of a share of the batch per core:
    /// with fewer samples than cores (pix2pix and CycleGAN train at batch 1)
    /// the per-sample split would leave cores idle. Tiny layers stay on the
    /// per-sample path, where one core is quicker than a hand-off; layers of
    /// a few output pixels take the narrow path (it splits the weights over
    /// the cores); and layers with at most 4 channels on one side stay
    /// per-sample too: their whole-batch columns are huge for a product a
    /// few deep (CycleGAN's last 7x7 layer: a 51 MB column matrix, 7 ms of
    /// data gradient against 1.7 ms per-sample).
    func splitsWithinSamples(_ g: ConvGeometry) -> Bool {
        Parallel.cores > 1 && g.batch < Parallel.cores && g.flops >= Self.withinSampleMinimumFlops && !convolution.narrowApplies(g)
            && min(g.inChannels, g.outChannels) > 4
    }
    /// About 0.1 ms of one core's work.
    static let withinSampleMinimumFlops = 1e7

    /// A convolution's passes take the first path that applies: 3x3 at
    /// stride 1 with 16 or more channels both ways by Winograd
    /// (CPUWinograd3x3); stride 1 with at most 4 channels on one side
    /// directly (CPUDirectConvolution); a batch smaller than the core count
    /// as whole-batch columns split within the samples; else a share of the
    /// batch per core (CPUConvolution, with its own narrow, single-channel
    /// and 4x4 Winograd paths).
    public func convolutionForward(_ g: ConvGeometry, input: DeviceBuffer, weight: DeviceBuffer,
                                   output: DeviceBuffer, epilogue: Epilogue?) throws {
        try g.validate(image: input, weight: weight, output: output)
        try epilogue?.validate(channels: g.outChannels, count: g.outputCount, "convolution \(g)")
        if winograd3x3Applies(g) {
            return winograd3x3.forward(g, x: input.host, w: weight.host, y: output.host, epilogue: CPUEpilogue(epilogue))
        }
        if directApplies(g) {
            return direct.forward(g, x: input.host, w: weight.host, y: output.host, epilogue: CPUEpilogue(epilogue))
        }
        if splitsWithinSamples(g) {
            try convolutionForwardByColumns(g, input: input, weight: weight, output: output)
            return try applyEpilogue(epilogue, layout: g.outputLayout, to: output)
        }
        convolution.forward(g, x: input.host, w: weight.host, y: output.host, epilogue: CPUEpilogue(epilogue))
    }

    public func convolutionBackwardData(_ g: ConvGeometry, outputGradient: DeviceBuffer, weight: DeviceBuffer,
                                        inputGradient: DeviceBuffer, epilogue: Epilogue?) throws {
        try g.validate(image: inputGradient, weight: weight, output: outputGradient, gradients: [.input, .output])
        try epilogue?.validate(channels: g.inChannels, count: g.inputCount, "transposed convolution \(g)")
        if winograd3x3Applies(g) {
            return winograd3x3.backwardData(g, dy: outputGradient.host, w: weight.host, dx: inputGradient.host,
                                            epilogue: CPUEpilogue(epilogue))
        }
        if directApplies(g) {
            return direct.backwardData(g, dy: outputGradient.host, w: weight.host, dx: inputGradient.host,
                                       epilogue: CPUEpilogue(epilogue))
        }
        if splitsWithinSamples(g) {
            try convolutionBackwardDataByColumns(g, outputGradient: outputGradient, weight: weight, inputGradient: inputGradient)
            return try applyEpilogue(epilogue, layout: g.inputLayout, to: inputGradient)
        }
        convolution.backwardData(g, dy: outputGradient.host, w: weight.host, dx: inputGradient.host,
                                 epilogue: CPUEpilogue(epilogue))
    }

    public func convolutionBackwardWeights(_ g: ConvGeometry, input: DeviceBuffer, outputGradient: DeviceBuffer,
                                           weightGradient: DeviceBuffer, accumulate: Bool) throws {
        try g.validate(image: input, weight: weightGradient, output: outputGradient, gradients: [.weight, .output])
        if winograd3x3Applies(g) {
            return winograd3x3.backwardWeights(g, x: input.host, dy: outputGradient.host, dw: weightGradient.host,
                                               accumulate: accumulate)
        }
        if directApplies(g) {
            return direct.backwardWeights(g, x: input.host, dy: outputGradient.host, dw: weightGradient.host,
                                          accumulate: accumulate)
        }
        if splitsWithinSamples(g) {
            return try convolutionBackwardWeightsByColumns(g, input: input, outputGradient: outputGradient,
                                                           weightGradient: weightGradient, accumulate: accumulate)
        }
        convolution.backwardWeights(g, x: input.host, dy: outputGradient.host, dw: weightGradient.host,
                                    accumulate: accumulate)
    }

    public func fusedBatchNormForward(layout: ChannelLayout, input: DeviceBuffer, state: BatchNormState,
                                      activation: Activation, output: DeviceBuffer, saved: BatchNormSaved) throws {
        nonisolated(unsafe) let (x, g, b, rm, rv) = (input.host, state.gamma.host, state.beta.host, state.runningMean.host, state.runningVar.host)
        nonisolated(unsafe) let (z, mean, invstd) = (output.host, saved.mean.host, saved.invStd.host)
        let (momentum, epsilon, act, p) = (state.momentum, state.epsilon, activation.cCode, activation.parameter)
        Parallel.forEachSlice(layout.channels, minimumSlice: max(1, (1 << 14) / layout.perChannel)) { r in
            atelier_batch_norm_train(layout.outer, layout.channels, layout.inner, x, g, b, rm, rv, momentum, epsilon,
                                     act, p, z, mean, invstd, r.lowerBound, r.upperBound)
        }
    }

    public func fusedBatchNormBackward(layout: ChannelLayout, input: DeviceBuffer, outputGradient: DeviceBuffer,
                                       gamma: DeviceBuffer, saved: BatchNormSaved, activation: Activation,
                                       activated: DeviceBuffer?, beta: DeviceBuffer?, inputGradient: DeviceBuffer,
                                       gammaGradient: DeviceBuffer, betaGradient: DeviceBuffer) throws {
        nonisolated(unsafe) let (x, z, dz, g, b) = (input.host, activated?.host, outputGradient.host, gamma.host, beta?.host)
        nonisolated(unsafe) let (mean, invstd) = (saved.mean.host, saved.invStd.host)
        nonisolated(unsafe) let (dx, dg, db) = (inputGradient.host, gammaGradient.host, betaGradient.host)
        let (act, p) = (activation.cCode, activation.parameter)
        Parallel.forEachSlice(layout.channels, minimumSlice: max(1, (1 << 14) / layout.perChannel)) { r in
            atelier_batch_norm_backward(layout.outer, layout.channels, layout.inner, x, z, dz, g, b, mean, invstd, act, p,
                                        dx, dg, db, r.lowerBound, r.upperBound)
        }
    }

    public func im2col(_ g: ConvGeometry, image: DeviceBuffer, columns: DeviceBuffer) throws {
        try validateIm2col(g, image: image, columns: columns)
        CPULayout.im2col(g, image.host, columns.host)
    }

    public func col2im(_ g: ConvGeometry, columns: DeviceBuffer, image: DeviceBuffer) throws {
        try validateIm2col(g, image: image, columns: columns)
        CPULayout.col2im(g, columns.host, image.host)
    }

    public func copyBlocks(_ c: BlockCopy, from source: DeviceBuffer, to destination: DeviceBuffer) throws {
        try validateBlockCopy(c, from: source, to: destination)
        for i in 0..<c.blocks {
            (destination.host + c.destinationOffset + i * c.destinationStride)
                .update(from: source.host + c.sourceOffset + i * c.sourceStride, count: c.length)
        }
    }

    public func swapAxes(a: Int, b: Int, inner: Int, input: DeviceBuffer, output: DeviceBuffer) throws {
        try validateSwap(a: a, b: b, inner: inner, input: input, output: output)
        CPULayout.swapAxes(a: a, b: b, inner: inner, input.host, output.host)
    }

    public func pointwise(_ op: PointwiseOp, layout: ChannelLayout, operands: [DeviceBuffer]) throws {
        try validatePointwise(op, layout: layout, operands: operands)
        CPUPointwise.run(op, layout: layout, operands.map(\.host))
    }

    public func reduce(_ op: ReduceOp, inputs: [DeviceBuffer], output: DeviceBuffer) throws {
        try validateReduce(op, inputs: inputs, output: output)
        let n = inputs[0].count
        let a = UnsafePointer(inputs[0].host)
        let b = UnsafePointer(inputs[op.arity == 2 ? 1 : 0].host)
        // Double accumulators: the reference should be the accurate side.
        var total = 0.0
        for i in 0..<n { total += op.term(a[i], b[i]) }
        output.host[0] = Float(op.divides ? total / Double(n) : total)
    }

    public func run(_ kernel: DeviceKernel) throws {
        kernel.runOnHost()
    }

    public func reduceChannels(_ op: ChannelReduceOp, layout: ChannelLayout, scale: Float,
                               elements: [DeviceBuffer], channels: [DeviceBuffer], output: DeviceBuffer) throws {
        try validateChannelReduce(op, layout: layout, elements: elements, channels: channels, output: output)
        let code: Int32
        switch op {
        case .sum: code = 0
        case .centeredSquares: code = 1
        case .normalizedProduct: code = 2
        }
        nonisolated(unsafe) let a = UnsafePointer(elements[0].host)
        nonisolated(unsafe) let b = UnsafePointer(elements[elements.count - 1].host)
        nonisolated(unsafe) let u = channels.first.map { UnsafePointer($0.host) }
        nonisolated(unsafe) let v = channels.last.map { UnsafePointer($0.host) }
        nonisolated(unsafe) let out = output.host
        let (n, cs, inner) = (layout.outer, layout.channels, layout.inner)
        Parallel.forEachSlice(cs, minimumSlice: max(1, (1 << 15) / max(1, layout.perChannel))) { range in
            atelier_channel_reduce(code, n, cs, inner, scale, a, b, u, v, out, range.lowerBound, range.upperBound)
        }
    }
}
