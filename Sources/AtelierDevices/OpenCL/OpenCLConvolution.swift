/// The OpenCL path's convolutions: per pass and layer shape, im2col + GEMM
/// (the composites in Primitives/Convolution.swift), or Kernels/conv.cl's
/// implicit-GEMM or direct kernels, as DeviceTuning chooses.
extension OpenCLBackend {
    public func convolutionForward(_ g: ConvGeometry, input: DeviceBuffer, weight: DeviceBuffer,
                                   output: DeviceBuffer, epilogue: Epilogue?) throws {
        try epilogue?.validate(channels: g.outChannels, count: g.outputCount, "convolution \(g)")
        switch tuning.convolution(for: .forward, g, device: info) {
        case .columns:
            try convolutionForwardByColumns(g, input: input, weight: weight, output: output)
        case .implicitGemm(let block, let local):
            try g.validate(image: input, weight: weight, output: output)
            try launchImplicit(.forward, g, block: block, local: local, [.buffer(input), .buffer(weight), .buffer(output)])
        case .direct(let width, let pixels):
            try g.validate(image: input, weight: weight, output: output)
            let byTap = try directLayout("conv_weights_by_tap", g, width: width, pixels: pixels, from: weight,
                                         count: g.columnRows * paddedChannels(g.outChannels, width),
                                         global: [paddedChannels(g.outChannels, width), g.columnRows])
            try launchDirect(.forward, g, width: width, pixels: pixels, [.buffer(input), .buffer(byTap), .buffer(output)])
        }
        try applyEpilogue(epilogue, layout: g.outputLayout, to: output)
    }

    public func convolutionBackwardData(_ g: ConvGeometry, outputGradient: DeviceBuffer, weight: DeviceBuffer,
                                        inputGradient: DeviceBuffer, epilogue: Epilogue?) throws {
        try epilogue?.validate(channels: g.inChannels, count: g.inputCount, "transposed convolution \(g)")
        switch tuning.convolution(for: .backwardData, g, device: info) {
        case .columns:
            try convolutionBackwardDataByColumns(g, outputGradient: outputGradient, weight: weight, inputGradient: inputGradient)
        case .implicitGemm(let block, let local):
            try g.validate(image: inputGradient, weight: weight, output: outputGradient, gradients: [.input, .output])
            try launchImplicit(.backwardData, g, block: block, local: local,
                               [.buffer(outputGradient), .buffer(weight), .buffer(inputGradient)])
        case .direct(let width, let pixels):
            try g.validate(image: inputGradient, weight: weight, output: outputGradient, gradients: [.input, .output])
            let taps = g.kernelHeight * g.kernelWidth, channels = paddedChannels(g.inChannels, width)
            let byInput = try directLayout("conv_weights_by_input", g, width: width, pixels: pixels, from: weight,
                                           count: taps * g.outChannels * channels, global: [channels, g.outChannels, taps])
            try launchDirect(.backwardData, g, width: width, pixels: pixels,
                             [.buffer(outputGradient), .buffer(byInput), .buffer(inputGradient)])
        }
        try applyEpilogue(epilogue, layout: g.inputLayout, to: inputGradient)
    }

    public func convolutionBackwardWeights(_ g: ConvGeometry, input: DeviceBuffer, outputGradient: DeviceBuffer,
                                           weightGradient: DeviceBuffer, accumulate: Bool) throws {
        switch tuning.convolution(for: .backwardWeights, g, device: info) {
        case .columns:
            try convolutionBackwardWeightsByColumns(g, input: input, outputGradient: outputGradient,
                                                    weightGradient: weightGradient, accumulate: accumulate)
        case .implicitGemm(let block, let local):
            try g.validate(image: input, weight: weightGradient, output: outputGradient, gradients: [.weight, .output])
            let slices = ConvKernelLaunch.slices(g, block: block, device: info)
            let flag = Argument.int(accumulate ? 1 : 0)
            guard slices > 1 else {
                try launchImplicit(.backwardWeights, g, block: block, local: local,
                                   [.buffer(input), .buffer(outputGradient), .buffer(weightGradient), flag])
                return
            }
            let partial = try buffer(count: slices * g.weightCount)
            try launchImplicit(.backwardWeights, g, block: block, local: local, slices: slices,
                               [.buffer(input), .buffer(outputGradient), .buffer(partial), flag])
            try sumSlices(g, slices: slices, options: Self.convOptions(g, block: block, slices: slices),
                          partial: partial, into: weightGradient, flag: flag)
        case .direct(let width, let pixels):
            try g.validate(image: input, weight: weightGradient, output: outputGradient, gradients: [.weight, .output])
            let channels = paddedChannels(g.outChannels, width), pixelCount = g.columnCols
            let slices = ConvKernelLaunch.slices(g, block: width, pixels: pixels, device: info)
            let byPixel = try directLayout("conv_gradient_by_pixel", g, width: width, pixels: pixels, slices: slices,
                                           from: outputGradient, count: pixelCount * channels, global: [channels, pixelCount])
            let flag = Argument.int(accumulate ? 1 : 0)
            let target = slices > 1 ? try buffer(count: slices * g.weightCount) : weightGradient
            try launchDirect(.backwardWeights, g, width: width, pixels: pixels, slices: slices,
                             [.buffer(input), .buffer(byPixel), .buffer(target), flag])
            if slices > 1 {
                try sumSlices(g, slices: slices, options: Self.convOptions(g, width: width, pixels: pixels, slices: slices),
                              partial: target, into: weightGradient, flag: flag)
            }
        }
    }

    private func sumSlices(_ g: ConvGeometry, slices: Int, options: String, partial: DeviceBuffer,
                           into weightGradient: DeviceBuffer, flag: Argument) throws {
        let sum = try kernel(file: "conv.cl", name: "conv_sum_slices", options: options)
        try launch(sum, [.buffer(partial), .buffer(weightGradient), flag], global: [g.weightCount], local: nil)
    }

    private func paddedChannels(_ channels: Int, _ width: Int) -> Int {
        ConvKernelLaunch.ceilDiv(channels, width) * width
    }

    /// One of conv.cl's layout kernels into a new pooled buffer of `count`
    /// floats (from the same program as the direct kernel it feeds).
    private func directLayout(_ name: String, _ g: ConvGeometry, width: Int, pixels: Int, slices: Int = 1,
                              from source: DeviceBuffer, count: Int, global: [Int]) throws -> DeviceBuffer {
        let out = try buffer(count: count)
        let k = try kernel(file: "conv.cl", name: name, options: Self.convOptions(g, width: width, pixels: pixels, slices: slices))
        try launch(k, [.buffer(source), .buffer(out)], global: global, local: nil)
        return out
    }

    private func launchDirect(_ pass: ConvPass, _ g: ConvGeometry, width: Int, pixels: Int, slices: Int = 1,
                              _ arguments: [Argument]) throws {
        let k = try kernel(file: "conv.cl", name: "conv_direct_\(pass.kernelSuffix)", options: Self.convOptions(g, width: width, pixels: pixels, slices: slices))
        let global = ConvKernelLaunch.global(pass, g, block: width, pixels: pixels, slices: slices)
        try launch(k, arguments, global: global, local: global.map { _ in 1 })
    }

    private func launchImplicit(_ pass: ConvPass, _ g: ConvGeometry, block: Int, local: Int, slices: Int = 1,
                                _ arguments: [Argument]) throws {
        let k = try kernel(file: "conv.cl", name: "conv_implicit_\(pass.kernelSuffix)", options: Self.convOptions(g, block: block, slices: slices))
        let global = ConvKernelLaunch.global(pass, g, block: block, slices: slices)
        try launch(k, arguments, global: global, local: [local] + global.dropFirst().map { _ in 1 })
    }

    /// The geometry as compile-time constants (one binary per layer shape,
    /// as for im2col), plus the block and slice counts of conv.cl.
    static func convOptions(_ g: ConvGeometry, block: Int? = nil, slices: Int = 1) -> String {
        convOptions(g, extra: block.map { [("K", g.outChannels), ("BLOCK", $0), ("SPLIT", slices)] } ?? [])
    }

    /// The direct kernels' options: vector width and pixels per work-item.
    static func convOptions(_ g: ConvGeometry, width: Int, pixels: Int, slices: Int) -> String {
        convOptions(g, extra: [("K", g.outChannels), ("VW", width), ("PIX", pixels), ("SPLIT", slices)])
    }

    private static func convOptions(_ g: ConvGeometry, extra: [(String, Int)]) -> String {
        let values = [("N", g.batch), ("C", g.inChannels), ("H", g.height), ("W", g.width), ("R", g.kernelHeight),
                      ("S", g.kernelWidth), ("SH", g.strideH), ("SW", g.strideW), ("PH", g.padH), ("PW", g.padW),
                      ("P", g.outHeight), ("Q", g.outWidth)]
            + extra
        return values.map { "-DCONV_\($0.0)=\($0.1)" }.joined(separator: " ")
    }
}
