import AtelierDevices
import AtelierGraph
/// y = x W^T + b with W [out, in] (PyTorch's layout).
public final class Dense: Module, SpectrallyNormalizable {
    /// W, [out, in].
    public let weight: Parameter
    /// b, [out], unless built without.
    public let bias: Parameter?
    /// The power iteration's vectors when W is spectrally normalised (`normalizeSpectrally`).
    public internal(set) var weightU: Parameter?, weightV: Parameter?

    /// A layer from `inputs` to `outputs` features, W drawn by `initializer` (b zero).
    public init(_ inputs: Int, _ outputs: Int, bias: Bool = true, initializer: Initializer, rng: inout RandomGenerator) {
        weight = Parameter(name: "weight", shape: [outputs, inputs],
                           initial: initializer.values([outputs, inputs], fanIn: inputs, fanOut: outputs, rng: &rng))
        self.bias = bias ? Parameter(name: "bias", shape: [outputs], initial: [Float](repeating: 0, count: outputs)) : nil
    }

    public override func callAsFunction(_ x: Tensor, _ c: ForwardContext) throws -> Tensor {
        let g = c.graph
        let y = try g(.matmul(transposeA: false, transposeB: true), x, SpectralNorm.weight(weight, u: weightU, v: weightV, c))
        return try bias.map { try g(.biasAdd, y, g.parameter($0)) } ?? y
    }
}

/// What the two convolution layers share: a square kernel, stride,
/// padding, an optional bias, and the op that applies them.
public class ConvolutionLayer: Module {
    /// The kernel.
    public let weight: Parameter
    /// One bias per output channel, unless built without.
    public let bias: Parameter?
    /// The step between windows.
    public let stride: Int
    /// Zeros added on every side (a transposed convolution crops them).
    public let padding: Int
    /// The power iteration's vectors when the kernel is spectrally
    /// normalised (`normalizeSpectrally`; Conv2D only: a transposed
    /// convolution's output channels are not its weight's first dimension).
    public internal(set) var weightU: Parameter?, weightV: Parameter?
    fileprivate var op: GraphOp { fatalError("subclass") }

    fileprivate init(weightShape: Shape, outputs: Int, fanIn: Int, fanOut: Int, stride: Int, padding: Int, bias: Bool,
                     initializer: Initializer, rng: inout RandomGenerator) {
        weight = Parameter(name: "weight", shape: weightShape,
                           initial: initializer.values(weightShape, fanIn: fanIn, fanOut: fanOut, rng: &rng))
        self.bias = bias ? Parameter(name: "bias", shape: [outputs], initial: [Float](repeating: 0, count: outputs)) : nil
        self.stride = stride
        self.padding = padding
    }

    public override func callAsFunction(_ x: Tensor, _ c: ForwardContext) throws -> Tensor {
        let g = c.graph
        let y = try g(op, x, SpectralNorm.weight(weight, u: weightU, v: weightV, c))
        return try bias.map { try g(.biasAdd, y, g.parameter($0)) } ?? y
    }
}

/// 2-D convolution, weight [out, in, k, k].
public final class Conv2D: ConvolutionLayer, SpectrallyNormalizable {
    /// A `kernel` x `kernel` convolution from `inputs` to `outputs` channels, its kernel
    /// drawn by `initializer` (the bias zero).
    public init(_ inputs: Int, _ outputs: Int, kernel: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true,
                initializer: Initializer, rng: inout RandomGenerator) {
        super.init(weightShape: [outputs, inputs, kernel, kernel], outputs: outputs, fanIn: inputs * kernel * kernel,
                   fanOut: outputs * kernel * kernel, stride: stride, padding: padding, bias: bias, initializer: initializer, rng: &rng)
    }
    fileprivate override var op: GraphOp { .conv2d(stride: stride, padding: padding) }
}

/// Transposed 2-D convolution, weight [in, out, k, k] (PyTorch's layout);
/// `outputPadding` as PyTorch's `output_padding` (CycleGAN's up layers use 1).
public final class ConvTranspose2D: ConvolutionLayer {
    /// Rows and columns added to one side of the output.
    public let outputPadding: Int

    /// A transposed convolution from `inputs` to `outputs` channels, its kernel drawn by
    /// `initializer` (the bias zero).
    public init(_ inputs: Int, _ outputs: Int, kernel: Int, stride: Int = 1, padding: Int = 0, outputPadding: Int = 0,
                bias: Bool = true, initializer: Initializer, rng: inout RandomGenerator) {
        self.outputPadding = outputPadding
        super.init(weightShape: [inputs, outputs, kernel, kernel], outputs: outputs, fanIn: outputs * kernel * kernel,
                   fanOut: inputs * kernel * kernel, stride: stride, padding: padding, bias: bias, initializer: initializer, rng: &rng)
    }
    fileprivate override var op: GraphOp { .convTranspose2d(stride: stride, padding: padding, outputPadding: outputPadding) }
}

/// BatchNorm over axis 1 of [N, C] (1-D) or [N, C, H, W] (2-D): batch
/// statistics in training mode, running ones in eval mode (PyTorch's
/// conventions: momentum 0.1, eps 1e-5, unbiased running variance).
public final class BatchNorm: Module {
    /// The scale (gamma), [C], 1 unless given.
    public let weight: Parameter
    /// The shift (beta), [C], 0.
    public let bias: Parameter
    /// The running mean used in eval mode (not trained).
    public let runningMean: Parameter
    /// The running (unbiased) variance used in eval mode (not trained).
    public let runningVar: Parameter
    /// How far each training step moves the running statistics.
    public let momentum: Float
    /// Added to the variance.
    public let epsilon: Float

    /// `weightInitial`: the scales' first values (default all 1; DCGAN and
    /// pix2pix draw them from N(1, 0.02)).
    public init(_ channels: Int, momentum: Float = 0.1, epsilon: Float = 1e-5, weightInitial: [Float]? = nil) {
        precondition(weightInitial == nil || weightInitial!.count == channels, "BatchNorm(\(channels)): wrong number of initial weights")
        weight = Parameter(name: "weight", shape: [channels], initial: weightInitial ?? [Float](repeating: 1, count: channels))
        bias = Parameter(name: "bias", shape: [channels], initial: [Float](repeating: 0, count: channels))
        runningMean = Parameter(name: "running_mean", shape: [channels], trainable: false, initial: [Float](repeating: 0, count: channels))
        runningVar = Parameter(name: "running_var", shape: [channels], trainable: false, initial: [Float](repeating: 1, count: channels))
        self.momentum = momentum
        self.epsilon = epsilon
    }

    public override func callAsFunction(_ x: Tensor, _ c: ForwardContext) throws -> Tensor {
        try callAsFunction(x, c, activation: .identity)
    }

    /// BatchNorm followed by `activation`, as one op (one pass over memory).
    public func callAsFunction(_ x: Tensor, _ c: ForwardContext, activation: Activation) throws -> Tensor {
        let g = c.graph
        // Momentum 0 leaves the running statistics as they are.
        let momentum = c.updatesRunningStatistics ? momentum : 0
        return try g.apply(.batchNorm(momentum: momentum, epsilon: epsilon, training: c.training, activation: activation),
                           [x, g.parameter(weight), g.parameter(bias), g.parameter(runningMean), g.parameter(runningVar)])[0]
    }
}

/// An elementwise activation as a layer.
public final class ActivationLayer: Module {
    /// The function applied.
    public let activation: Activation
    /// A layer applying `activation`.
    public init(_ activation: Activation) { self.activation = activation }

    public override func callAsFunction(_ x: Tensor, _ c: ForwardContext) throws -> Tensor {
        try c.graph(.activation(activation), x)
    }
}

/// Reshapes every sample to `shape` (the batch axis is kept); [-1] flattens.
public final class Reshape: Module {
    /// The shape of each sample after it ([-1]: flat).
    public let sampleShape: [Int]
    /// A reshape of each sample to `sampleShape`.
    public init(_ sampleShape: [Int]) { self.sampleShape = sampleShape }
    /// Flattens each sample (PyTorch's nn.Flatten).
    public static var flatten: Reshape { Reshape([-1]) }

    public override func callAsFunction(_ x: Tensor, _ c: ForwardContext) throws -> Tensor {
        let perSample = x.shape.count / x.shape[0]
        let dims = sampleShape == [-1] ? [perSample] : sampleShape
        return try c.graph(.reshape(Shape([x.shape[0]] + dims)), x)
    }
}

/// Instance normalisation (PyTorch's InstanceNorm2d): per sample and
/// channel, with learned scale and shift only when `affine`.
public final class InstanceNorm: Module {
    /// The scale, [C], with `affine`.
    public let weight: Parameter?
    /// The shift, [C], with `affine`.
    public let bias: Parameter?
    /// Added to the variance.
    public let epsilon: Float

    /// InstanceNorm of `channels` channels.
    public init(_ channels: Int, affine: Bool = false, epsilon: Float = 1e-5) {
        weight = affine ? Parameter(name: "weight", shape: [channels], initial: [Float](repeating: 1, count: channels)) : nil
        bias = affine ? Parameter(name: "bias", shape: [channels], initial: [Float](repeating: 0, count: channels)) : nil
        self.epsilon = epsilon
    }

    public override func callAsFunction(_ x: Tensor, _ c: ForwardContext) throws -> Tensor {
        let g = c.graph
        let affine = [weight, bias].compactMap { $0 }.map { g.parameter($0) }
        return try g.apply(InstanceNormOp(epsilon: epsilon, affine: !affine.isEmpty), [x] + affine)[0]
    }
}

/// Padding by zeros or reflection on every side (ZeroPad2d, ReflectionPad2d).
public final class Pad: Module {
    /// The padding op.
    public let op: PadOp
    /// `amount` pixels of `mode` padding on every side.
    public init(_ mode: PadOp.Mode, _ amount: Int) { op = PadOp(mode, amount) }

    public override func callAsFunction(_ x: Tensor, _ c: ForwardContext) throws -> Tensor {
        try c.graph.apply(op, [x])[0]
    }
}

/// Max pooling over size x size windows with stride size (MaxPool2d(size)).
public final class MaxPool: Module {
    /// The pooling op.
    public let op: MaxPoolOp
    /// Pooling over `size` x `size` windows.
    public init(_ size: Int) { op = MaxPoolOp(size: size) }

    public override func callAsFunction(_ x: Tensor, _ c: ForwardContext) throws -> Tensor {
        try c.graph.apply(op, [x])[0]
    }
}

/// The minibatch standard deviation as one more feature of [N, F] (MinibatchStdOp).
public final class MinibatchStd: Module {
    /// The layer.
    public override init() {}

    public override func callAsFunction(_ x: Tensor, _ c: ForwardContext) throws -> Tensor {
        try c.graph.apply(MinibatchStdOp(), [x])[0]
    }
}

/// Upsampling by an integer factor, nearest or bilinear.
public final class Upsample: Module {
    /// The upsampling op.
    public let op: UpsampleOp
    /// Upsampling by `factor` with `mode`.
    public init(factor: Int, mode: UpsampleOp.Mode) { op = UpsampleOp(factor: factor, mode: mode) }

    public override func callAsFunction(_ x: Tensor, _ c: ForwardContext) throws -> Tensor {
        try c.graph.apply(op, [x])[0]
    }
}

/// Dropout with probability `p` in training mode; with `inEvaluation` also
/// when sampling (pix2pix keeps its dropout on at test time, its only noise).
/// The mask comes from the graph's step seed, so runs and resumes repeat.
public final class Dropout: Module {
    /// The probability of zeroing each element (the rest are scaled by 1 / (1 - p)).
    public let probability: Float
    /// Whether it stays on when sampling.
    public let inEvaluation: Bool
    /// Dropout with `probability`.
    public init(_ probability: Float, inEvaluation: Bool = false) {
        self.probability = probability
        self.inEvaluation = inEvaluation
    }

    public override func callAsFunction(_ x: Tensor, _ c: ForwardContext) throws -> Tensor {
        guard probability > 0, c.training || inEvaluation else { return x }
        let g = c.graph
        return try g.apply(DropoutOp(probability: probability, salt: g.nextSalt()), [x, g.stepSeed()])[0]
    }
}
