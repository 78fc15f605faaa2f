/// The bias and activation that follow a GEMM or a convolution, applied as
/// part of it: the CPU path applies them while each worker's output is
/// still in its cache; other backends run one elementwise pass in place
/// instead of two. The bias holds one value per channel of the output's
/// (N, C, inner) layout: per column of a GEMM's C, per output channel of a
/// convolution.
public struct Epilogue {
    public var bias: DeviceBuffer?
    public var activation: Activation

    public init(bias: DeviceBuffer? = nil, activation: Activation = .identity) {
        self.bias = bias
        self.activation = activation
    }

    var isEmpty: Bool { bias == nil && activation == .identity }

    func validate(channels: Int, _ what: String) throws {
        try activation.validate()
        if let bias { try ShapeError.expect(bias, count: channels, "the bias after \(what)") }
    }
}

extension Backend {
    /// The default epilogue: one elementwise pass over `output`, in place.
    public func applyEpilogue(_ epilogue: Epilogue?, layout: ChannelLayout, to output: DeviceBuffer) throws {
        guard let epilogue, !epilogue.isEmpty else { return }
        if let bias = epilogue.bias {
            try pointwise(.biasActivation(epilogue.activation), layout: layout, operands: [output, bias, output])
        } else {
            try pointwise(.activation(epilogue.activation), count: layout.count, operands: [output, output])
        }
    }
}
