/// Convolution as im2col + one GEMM for the whole batch, written once over the
/// backend primitives; the default for every backend (the CPU path has its
/// own chunked version, see CPUConvolution). Transposed convolution is the same three functions
/// with roles exchanged: its forward pass is `convolutionBackwardData`, its
/// data gradient is `convolutionForward`, and its weight gradient is
/// `convolutionBackwardWeights` with input and output gradient swapped.
extension Backend {
    public func convolutionForward(_ g: ConvGeometry, input: DeviceBuffer, weight: DeviceBuffer,
                                   output: DeviceBuffer, epilogue: Epilogue?) throws {
        try epilogue?.validate(channels: g.outChannels, count: g.outputCount, "convolution \(g)")
        try convolutionForwardByColumns(g, input: input, weight: weight, output: output)
        try applyEpilogue(epilogue, layout: g.outputLayout, to: output)
    }

    public func convolutionBackwardData(_ g: ConvGeometry, outputGradient: DeviceBuffer, weight: DeviceBuffer,
                                        inputGradient: DeviceBuffer, epilogue: Epilogue?) throws {
        try epilogue?.validate(channels: g.inChannels, count: g.inputCount, "transposed convolution \(g)")
        try convolutionBackwardDataByColumns(g, outputGradient: outputGradient, weight: weight, inputGradient: inputGradient)
        try applyEpilogue(epilogue, layout: g.inputLayout, to: inputGradient)
    }

    public func convolutionBackwardWeights(_ g: ConvGeometry, input: DeviceBuffer, outputGradient: DeviceBuffer,
                                           weightGradient: DeviceBuffer, accumulate: Bool) throws {
        try convolutionBackwardWeightsByColumns(g, input: input, outputGradient: outputGradient,
                                                weightGradient: weightGradient, accumulate: accumulate)
    }

    /// y (N,K,P,Q) = conv(x (N,C,H,W), w (K,C,R,S)).
    public func convolutionForwardByColumns(_ g: ConvGeometry, input: DeviceBuffer, weight: DeviceBuffer,
                                   output: DeviceBuffer) throws {
        try g.validate(image: input, weight: weight, output: output)
        let columns = try buffer(count: g.columnCount)
        try im2col(g, image: input, columns: columns)
        let product = try buffer(count: g.outputCount)  // (K, N, PQ)
        try gemm(GemmShape(m: g.outChannels, n: g.columnCols, k: g.columnRows), a: weight, b: columns, c: product)
        try swapAxes(a: g.outChannels, b: g.batch, inner: g.outHeight * g.outWidth, input: product, output: output)
    }

    /// dx (N,C,H,W) from dy (N,K,P,Q) and w; overwrites dx.
    public func convolutionBackwardDataByColumns(_ g: ConvGeometry, outputGradient: DeviceBuffer, weight: DeviceBuffer,
                                        inputGradient: DeviceBuffer) throws {
        try g.validate(image: inputGradient, weight: weight, output: outputGradient, gradients: [.input, .output])
        let dyT = try batchMajorToChannelMajor(g, outputGradient)
        let columns = try buffer(count: g.columnCount)
        try gemm(GemmShape(m: g.columnRows, n: g.columnCols, k: g.outChannels, transposeA: true),
                 a: weight, b: dyT, c: columns)
        try col2im(g, columns: columns, image: inputGradient)
    }

    /// dw (K,C,R,S) = accumulate * dw + gradient from x and dy.
    public func convolutionBackwardWeightsByColumns(_ g: ConvGeometry, input: DeviceBuffer, outputGradient: DeviceBuffer,
                                                    weightGradient: DeviceBuffer, accumulate: Bool = false) throws {
        try g.validate(image: input, weight: weightGradient, output: outputGradient, gradients: [.weight, .output])
        let dyT = try batchMajorToChannelMajor(g, outputGradient)
        let columns = try buffer(count: g.columnCount)
        try im2col(g, image: input, columns: columns)
        try gemm(GemmShape(m: g.outChannels, n: g.columnRows, k: g.columnCols, transposeB: true,
                           beta: accumulate ? 1 : 0),
                 a: dyT, b: columns, c: weightGradient)
    }

    /// (N, K, PQ) -> (K, N, PQ), the GEMM's layout.
    private func batchMajorToChannelMajor(_ g: ConvGeometry, _ dy: DeviceBuffer) throws -> DeviceBuffer {
        let out = try buffer(count: g.outputCount)
        try swapAxes(a: g.batch, b: g.outChannels, inner: g.outHeight * g.outWidth, input: dy, output: out)
        return out
    }

    /// Adds bias[c] to (N, C, inner) in place or into `output`.
    public func biasAdd(layout: ChannelLayout, input: DeviceBuffer, bias: DeviceBuffer, output: DeviceBuffer) throws {
        try pointwise(.biasAdd, layout: layout, operands: [input, bias, output])
    }

    /// db[c] = sum of dy over n and inner (+ db when accumulating).
    public func biasGradient(layout: ChannelLayout, outputGradient: DeviceBuffer, biasGradient: DeviceBuffer) throws {
        try reduceChannels(.sum, layout: layout, scale: 1, elements: [outputGradient], channels: [], output: biasGradient)
    }
}
