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
    /// Training mode: normalises with the batch statistics and updates the
    /// running ones.
    /// `saved`, when given, receives the batch mean and inverse std.
    @discardableResult
    public func batchNormForwardTraining(layout: ChannelLayout, input: DeviceBuffer, state: BatchNormState,
                                         output: DeviceBuffer, saved: BatchNormSaved? = nil) throws -> BatchNormSaved {
        guard layout.perChannel > 1 else {
            throw ShapeError("BatchNorm in training mode needs more than one value per channel, got layout \(layout); use a batch larger than 1")
        }
        let c = layout.channels
        let mean = try saved?.mean ?? buffer(count: c), variance = try buffer(count: c)
        let invStd = try saved?.invStd ?? buffer(count: c)
        let m = Float(layout.perChannel)
        try reduceChannels(.sum, layout: layout, scale: 1 / m, elements: [input], channels: [], output: mean)
        try reduceChannels(.centeredSquares, layout: layout, scale: 1 / m, elements: [input], channels: [mean], output: variance)
        try pointwise(.batchNormStatistics(momentum: state.momentum, epsilon: state.epsilon, unbias: m / (m - 1)),
                      count: c, operands: [mean, variance, state.runningMean, state.runningVar, invStd])
        try pointwise(.batchNormApply, layout: layout, operands: [input, mean, invStd, state.gamma, state.beta, output])
        return BatchNormSaved(mean: mean, invStd: invStd)
    }

    /// Inference mode: normalises with the running statistics.
    public func batchNormForwardInference(layout: ChannelLayout, input: DeviceBuffer, state: BatchNormState,
                                          output: DeviceBuffer) throws {
        try pointwise(.batchNormInference(epsilon: state.epsilon), layout: layout,
                      operands: [input, state.runningMean, state.runningVar, state.gamma, state.beta, output])
    }

    /// dx, dgamma and dbeta of the training-mode forward pass.
    public func batchNormBackward(layout: ChannelLayout, input: DeviceBuffer, outputGradient: DeviceBuffer,
                                  gamma: DeviceBuffer, saved: BatchNormSaved, inputGradient: DeviceBuffer,
                                  gammaGradient: DeviceBuffer, betaGradient: DeviceBuffer) throws {
        try reduceChannels(.sum, layout: layout, scale: 1, elements: [outputGradient], channels: [], output: betaGradient)
        try reduceChannels(.normalizedProduct, layout: layout, scale: 1, elements: [input, outputGradient],
                           channels: [saved.mean, saved.invStd], output: gammaGradient)
        try pointwise(.batchNormGradient(inverseCount: 1 / Float(layout.perChannel)), layout: layout,
                      operands: [input, outputGradient, saved.mean, saved.invStd, gamma, betaGradient, gammaGradient, inputGradient])
    }
}
