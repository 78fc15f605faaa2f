import Testing
@testable import AtelierDevices

/// The checks the CPU path's convolution algorithms share against double
/// precision (CPUPathTests.exactConvolution): every value within `relative`
/// of its terms' magnitudes (plus `absolute`), and the root-mean-square
/// relative error within `typical` (CPUPathTests.rmsRelativeError).
struct ExactBounds {
    var relative: Double
    var absolute: Double
    var typical: Double
}

/// `values` against the exact ones: `subtracting` is what the pass started
/// from (an accumulated weight gradient's start), if anything.
func expectExact(_ values: [Float], _ exact: [Double], magnitudes: [Double], subtracting start: [Float]? = nil,
                 _ bounds: ExactBounds, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let errors = values.indices.map { i in abs(Double(values[i]) - (start.map { Double($0[i]) } ?? 0) - exact[i]) }
    let outside = zip(errors, magnitudes).filter { !($0 <= bounds.relative * $1 + bounds.absolute) }.count
    #expect(outside == 0, "\(what): \(outside) values beyond the error bound", sourceLocation: sourceLocation)
    let typical = CPUPathTests.rmsRelativeError(errors, magnitudes)
    #expect(typical <= bounds.typical, "\(what): root-mean-square relative error \(typical)", sourceLocation: sourceLocation)
}

/// The weight gradient of `g` on `cpu`, written over NaN and added to
/// `start`, against the exact one.
func expectExactWeightGradients(_ cpu: CPUBackend, _ g: ConvGeometry, x: DeviceBuffer, dy: DeviceBuffer,
                                exact: (dw: [Double], dwMagnitude: [Double]), start: [Float], _ bounds: ExactBounds,
                                _ what: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    for accumulate in [false, true] {
        let dw = try cpu.upload(accumulate ? start : [Float](repeating: .nan, count: g.weightCount))
        try cpu.convolutionBackwardWeights(g, input: x, outputGradient: dy, weightGradient: dw, accumulate: accumulate)
        expectExact(try cpu.read(dw), exact.dw, magnitudes: exact.dwMagnitude, subtracting: accumulate ? start : nil, bounds,
                    "\(what) weight gradient \(g), accumulate \(accumulate)", sourceLocation: sourceLocation)
    }
}

/// The forward pass and data gradient of `g` on `cpu` against the exact
/// ones, written over NaN; then each with epilogues fused, against the
/// plain result with the epilogue applied after (to the bit). Returns the
/// inputs and exact values for the weight gradient's check.
@discardableResult
func expectExactForwardAndData(_ cpu: CPUBackend, _ g: ConvGeometry, seed: UInt64, _ bounds: ExactBounds, _ what: String,
                               sourceLocation: SourceLocation = #_sourceLocation) throws
    -> (x: DeviceBuffer, dy: DeviceBuffer, exact: (dw: [Double], dwMagnitude: [Double])) {
    let (xs, ws, dys) = (randomValues(g.inputCount, seed: seed), randomValues(g.weightCount, seed: seed + 1),
                         randomValues(g.outputCount, seed: seed + 2))
    let (x, w, dy) = (try cpu.upload(xs), try cpu.upload(ws), try cpu.upload(dys))
    let exact = CPUPathTests.exactConvolution(g, x: xs, w: ws, dy: dys)
    let outputBias = try cpu.upload(randomValues(g.outChannels, seed: seed + 3))
    let inputBias = try cpu.upload(randomValues(g.inChannels, seed: seed + 4))
    let yActivated = try cpu.upload(randomValues(g.outputCount, seed: seed + 5, in: -0.9...0.9))
    let dxActivated = try cpu.upload(randomValues(g.inputCount, seed: seed + 6, in: -0.9...0.9))
    let passes: [(String, (DeviceBuffer, Epilogue?) throws -> Void, [Double], [Double], ChannelLayout, [(String, Epilogue)])] = [
        ("forward", { try cpu.convolutionForward(g, input: x, weight: w, output: $0, epilogue: $1) },
         exact.y, exact.yMagnitude, g.outputLayout,
         [("bias + tanh", Epilogue(bias: outputBias, activation: .tanh)),
          ("leaky_relu gradient", .gradient(through: .leakyRelu(slope: 0.2), activated: yActivated))]),
        ("data gradient", { try cpu.convolutionBackwardData(g, outputGradient: dy, weight: w, inputGradient: $0, epilogue: $1) },
         exact.dx, exact.dxMagnitude, g.inputLayout,
         [("bias + relu", Epilogue(bias: inputBias, activation: .relu)),
          ("tanh gradient", .gradient(through: .tanh, activated: dxActivated))]),
    ]
    for (pass, run, values, magnitudes, layout, epilogues) in passes {
        let out = try cpu.upload([Float](repeating: .nan, count: values.count))
        try run(out, nil)
        let plain = try cpu.read(out)
        expectExact(plain, values, magnitudes: magnitudes, bounds, "\(what) \(pass) \(g)", sourceLocation: sourceLocation)
        for (name, epilogue) in epilogues {
            let (fused, ref) = (try cpu.upload([Float](repeating: .nan, count: values.count)), try cpu.upload(plain))
            try run(fused, epilogue)
            try cpu.applyEpilogue(epilogue, layout: layout, to: ref)
            expectClose(try cpu.read(fused), try cpu.read(ref), rtol: 0, atol: 0, "\(what) \(pass) \(g), epilogue \(name)",
                        sourceLocation: sourceLocation)
        }
    }
    return (x, dy, (exact.dw, exact.dwMagnitude))
}
