/// BatchNorm over the channels of a (N, C, inner) layout, composed from the
/// backend primitives. Running statistics follow PyTorch: running = (1 -
/// momentum) * running + momentum * batch, with the unbiased batch variance.
public struct BatchNormState {
    public let gamma: DeviceBuffer
    public let beta: DeviceBuffer
    public let runningMean: DeviceBuffer
    public let runningVar: DeviceBuffer
    public var momentum: Float
    public var epsilon: Float

    public init(gamma: DeviceBuffer, beta: DeviceBuffer, runningMean: DeviceBuffer, runningVar: DeviceBuffer,
                momentum: Float = 0.1, epsilon: Float = 1e-5) {
        self.gamma = gamma
        self.beta = beta
        self.runningMean = runningMean
        self.runningVar = runningVar
        self.momentum = momentum
        self.epsilon = epsilon
    }
}

/// What the training forward pass keeps for the backward pass.
public struct BatchNormSaved {
    public let mean: DeviceBuffer
    public let invStd: DeviceBuffer

    public init(mean: DeviceBuffer, invStd: DeviceBuffer) {
        self.mean = mean
        self.invStd = invStd
    }
}

extension Backend {
    /// Training mode: normalises with the batch statistics, updates the
    /// running ones, then applies `activation`. `saved`, when given, receives
    /// the batch mean and inverse std.
    @discardableResult
    public func batchNormForwardTraining(layout: ChannelLayout, input: DeviceBuffer, state: BatchNormState,
                                         activation: Activation = .identity, output: DeviceBuffer,
                                         saved: BatchNormSaved? = nil) throws -> BatchNormSaved {
        guard layout.perChannel > 1 else {
            throw ShapeError("BatchNorm in training mode needs more than one value per channel, got layout \(layout); use a batch larger than 1")
        }
        try validateBatchNorm(layout: layout, input: input, state: state, output: output)
        let c = layout.channels
        let kept = BatchNormSaved(mean: try saved?.mean ?? buffer(count: c), invStd: try saved?.invStd ?? buffer(count: c))
        try ShapeError.expect(kept.mean, count: c, "BatchNorm batch mean")
        try ShapeError.expect(kept.invStd, count: c, "BatchNorm inverse std")
        try fusedBatchNormForward(layout: layout, input: input, state: state, activation: activation, output: output, saved: kept)
        return kept
    }

    public func fusedBatchNormForward(layout: ChannelLayout, input: DeviceBuffer, state: BatchNormState,
                                      activation: Activation, output: DeviceBuffer, saved: BatchNormSaved) throws {
        try batchNormForwardByPrimitives(layout: layout, input: input, state: state, activation: activation,
                                         output: output, saved: saved)
    }

    /// The default: the two statistics reductions, then one elementwise pass
    /// for the running statistics and one that normalises and activates.
    public func batchNormForwardByPrimitives(layout: ChannelLayout, input: DeviceBuffer, state: BatchNormState,
                                             activation: Activation, output: DeviceBuffer, saved: BatchNormSaved) throws {
        let variance = try buffer(count: layout.channels)
        let m = Float(layout.perChannel)
        try reduceChannels(.sum, layout: layout, scale: 1 / m, elements: [input], channels: [], output: saved.mean)
        try reduceChannels(.centeredSquares, layout: layout, scale: 1 / m, elements: [input], channels: [saved.mean], output: variance)
        try pointwise(.batchNormStatistics(momentum: state.momentum, epsilon: state.epsilon, unbias: m / (m - 1)),
                      count: layout.channels, operands: [saved.mean, variance, state.runningMean, state.runningVar, saved.invStd])
        try pointwise(activation == .identity ? .batchNormApply : .batchNormApplyActivation(activation), layout: layout,
                      operands: [input, saved.mean, saved.invStd, state.gamma, state.beta, output])
    }

    /// Inference mode: normalises with the running statistics, then applies `activation`.
    public func batchNormForwardInference(layout: ChannelLayout, input: DeviceBuffer, state: BatchNormState,
                                          activation: Activation = .identity, output: DeviceBuffer) throws {
        let normalized = activation == .identity ? output : try buffer(count: layout.count)
        try pointwise(.batchNormInference(epsilon: state.epsilon), layout: layout,
                      operands: [input, state.runningMean, state.runningVar, state.gamma, state.beta, normalized])
        if activation != .identity {
            try pointwise(.activation(activation), count: layout.count, operands: [normalized, output])
        }
    }

    /// dx, dgamma and dbeta of the training-mode forward pass; with an
    /// activation, `outputGradient` is the gradient of its output
    /// `activated`. `beta`, the forward pass's, lets a backend take a
    /// ReLU-type activation's mask from the input instead of reading
    /// `activated` (the CPU path does).
    public func batchNormBackward(layout: ChannelLayout, input: DeviceBuffer, outputGradient: DeviceBuffer,
                                  gamma: DeviceBuffer, saved: BatchNormSaved, activation: Activation = .identity,
                                  activated: DeviceBuffer? = nil, beta: DeviceBuffer? = nil, inputGradient: DeviceBuffer,
                                  gammaGradient: DeviceBuffer, betaGradient: DeviceBuffer) throws {
        guard activation == .identity || activated != nil else {
            throw ShapeError("the BatchNorm + \(activation) gradient needs the activation's output")
        }
        for (buffer, what) in [(input, "input"), (outputGradient, "output gradient"), (inputGradient, "input gradient")] {
            try ShapeError.expect(buffer, count: layout.count, "BatchNorm \(what)")
        }
        if let activated { try ShapeError.expect(activated, count: layout.count, "BatchNorm activated output") }
        for (buffer, what) in [(gamma, "gamma"), (saved.mean, "batch mean"), (saved.invStd, "inverse std"),
                               (gammaGradient, "gamma gradient"), (betaGradient, "beta gradient")] {
            try ShapeError.expect(buffer, count: layout.channels, "BatchNorm \(what)")
        }
        if let beta { try ShapeError.expect(beta, count: layout.channels, "BatchNorm beta") }
        try fusedBatchNormBackward(layout: layout, input: input, outputGradient: outputGradient, gamma: gamma, saved: saved,
                                   activation: activation, activated: activated, beta: beta, inputGradient: inputGradient,
                                   gammaGradient: gammaGradient, betaGradient: betaGradient)
    }

    public func fusedBatchNormBackward(layout: ChannelLayout, input: DeviceBuffer, outputGradient: DeviceBuffer,
                                       gamma: DeviceBuffer, saved: BatchNormSaved, activation: Activation,
                                       activated: DeviceBuffer?, beta: DeviceBuffer?, inputGradient: DeviceBuffer,
                                       gammaGradient: DeviceBuffer, betaGradient: DeviceBuffer) throws {
        try batchNormBackwardByPrimitives(layout: layout, input: input, outputGradient: outputGradient, gamma: gamma,
                                          saved: saved, activation: activation, activated: activated,
                                          inputGradient: inputGradient, gammaGradient: gammaGradient,
                                          betaGradient: betaGradient)
    }

    /// The default: the activation's gradient, the two sums and dx as
    /// separate primitives.
    public func batchNormBackwardByPrimitives(layout: ChannelLayout, input: DeviceBuffer, outputGradient: DeviceBuffer,
                                       gamma: DeviceBuffer, saved: BatchNormSaved, activation: Activation,
                                       activated: DeviceBuffer?, inputGradient: DeviceBuffer,
                                       gammaGradient: DeviceBuffer, betaGradient: DeviceBuffer) throws {
        var dy = outputGradient
        if activation != .identity, let activated {
            dy = try buffer(count: layout.count)
            try pointwise(.activationGradient(activation), count: layout.count, operands: [activated, outputGradient, dy])
        }
        try reduceChannels(.sum, layout: layout, scale: 1, elements: [dy], channels: [], output: betaGradient)
        try reduceChannels(.normalizedProduct, layout: layout, scale: 1, elements: [input, dy],
                           channels: [saved.mean, saved.invStd], output: gammaGradient)
        try pointwise(.batchNormGradient(inverseCount: 1 / Float(layout.perChannel)), layout: layout,
                      operands: [input, dy, saved.mean, saved.invStd, gamma, betaGradient, gammaGradient, inputGradient])
    }

    func validateBatchNorm(layout: ChannelLayout, input: DeviceBuffer, state: BatchNormState, output: DeviceBuffer) throws {
        try ShapeError.expect(input, count: layout.count, "BatchNorm input")
        try ShapeError.expect(output, count: layout.count, "BatchNorm output")
        for (buffer, what) in [(state.gamma, "gamma"), (state.beta, "beta"), (state.runningMean, "running mean"),
                               (state.runningVar, "running variance")] {
            try ShapeError.expect(buffer, count: layout.channels, "BatchNorm \(what)")
        }
    }
}
