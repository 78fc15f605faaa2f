/// What follows a GEMM or a convolution, applied as part of it: the CPU
/// path applies it while each worker's output is still in its cache; other
/// backends run one elementwise pass in place instead of two.
///
/// Forward: y = activation(y + bias), the bias holding one value per channel
/// of the output's (N, C, inner) layout (per column of a GEMM's C, per
/// output channel of a convolution). Backward: y = activation'(z) * y, the
/// gradient through an activation whose output z (`activated`, shaped like
/// y) the forward pass kept: a data gradient followed by the gradient of
/// the activation before it.
public struct Epilogue {
    public var bias: DeviceBuffer?
    public var activation: Activation
    public var activated: DeviceBuffer?

    public init(bias: DeviceBuffer? = nil, activation: Activation = .identity) {
        self.bias = bias
        self.activation = activation
    }

    /// The backward form: multiply by the derivative of `activation`, taken
    /// at its output `activated`.
    public static func gradient(through activation: Activation, activated: DeviceBuffer) -> Epilogue {
        var e = Epilogue(activation: activation)
        e.activated = activated
        return e
    }

    var isEmpty: Bool { bias == nil && activation == .identity }

    func validate(channels: Int, count: Int, _ what: String) throws {
        try activation.validate()
        if let bias { try ShapeError.expect(bias, count: channels, "the bias after \(what)") }
        if let activated {
            guard bias == nil else { throw ShapeError("the gradient epilogue after \(what) takes no bias") }
            try ShapeError.expect(activated, count: count, "the activation output for the gradient after \(what)")
        }
    }
}

extension Backend {
    /// The default epilogue: one elementwise pass over `output`, in place.
    public func applyEpilogue(_ epilogue: Epilogue?, layout: ChannelLayout, to output: DeviceBuffer) throws {
        guard let epilogue, !epilogue.isEmpty else { return }
        if let activated = epilogue.activated {
            try pointwise(.activationGradient(epilogue.activation), count: layout.count, operands: [activated, output, output])
        } else if let bias = epilogue.bias {
            try pointwise(.biasActivation(epilogue.activation), layout: layout, operands: [output, bias, output])
        } else {
            try pointwise(.activation(epilogue.activation), count: layout.count, operands: [output, output])
        }
    }
}
