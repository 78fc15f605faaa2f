import AtelierDevices
import AtelierGraph
import AtelierModels
/// The trainable parameters of one model (a GAN's generator, say) in one
/// flat device buffer, with their gradients and Adam moments in three more of
/// the same layout. Each parameter and its gradient are views into them, so
/// the graph writes gradients in place and one Adam launch updates them all.
public final class ParameterGroup {
    /// The device its buffers live on.
    public let backend: Backend
    /// The trainable parameters, in the flat buffers' order.
    public let parameters: [Parameter]
    /// Every parameter's values, one after another (each parameter's buffer is a view of it).
    public let values: DeviceBuffer
    /// Their gradients, laid out the same way.
    public let gradients: DeviceBuffer
    /// Adam's first moments.
    public let firstMoments: DeviceBuffer
    /// Adam's second moments.
    public let secondMoments: DeviceBuffer
    /// Float offset of each parameter in the flat buffers.
    public let offsets: [Int]
    private var gradientViews: [ObjectIdentifier: DeviceBuffer] = [:]
    /// Adam steps taken (t in the bias correction).
    public private(set) var step = 0

    /// Copies the parameters' initial values into one flat buffer on `backend`
    /// and makes each parameter's buffer a view of it.
    public init(_ parameters: [Parameter], on backend: Backend) throws {
        let trainable = parameters.filter(\.trainable)
        guard !trainable.isEmpty else { throw ShapeError("a parameter group needs at least one trainable parameter") }
        let align = backend.viewAlignment
        var offsets: [Int] = []
        var total = 0
        for p in trainable {
            offsets.append(total)
            total += (p.shape.count + align - 1) / align * align
        }
        self.backend = backend
        self.parameters = trainable
        self.offsets = offsets
        values = try backend.buffer(count: total)
        gradients = try backend.buffer(count: total)
        firstMoments = try backend.buffer(count: total)
        secondMoments = try backend.buffer(count: total)
        var flat = [Float](repeating: 0, count: total)
        for (p, offset) in zip(trainable, offsets) {
            flat.replaceSubrange(offset..<offset + p.shape.count, with: p.initial)
        }
        try backend.write(flat, to: values)
        // Padding between parameters stays zero in every buffer, so Adam
        // leaves it at zero.
        for b in [gradients, firstMoments, secondMoments] { try backend.fill(b, with: 0) }
        for (p, offset) in zip(trainable, offsets) {
            p.buffer = try backend.view(of: values, offset: offset, count: p.shape.count)
            gradientViews[ObjectIdentifier(p)] = try backend.view(of: gradients, offset: offset, count: p.shape.count)
        }
    }

    /// Where the gradient of `p` must be written.
    public func gradient(of p: Parameter) throws -> DeviceBuffer {
        guard let view = gradientViews[ObjectIdentifier(p)] else {
            throw ShapeError("\(p.name) is not a trainable parameter of this group")
        }
        return view
    }

    /// One fused Adam update of every parameter from the gradients buffer.
    public func adamStep(learningRate: Float, beta1: Float, beta2: Float, epsilon: Float = 1e-8) throws {
        step += 1
        try backend.pointwise(.adam(AdamStep(learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon, step: step)),
                              count: values.count, operands: [gradients, values, firstMoments, secondMoments])
    }

    /// Restores the step count (resuming from a checkpoint).
    public func setStep(_ value: Int) { step = value }
}

extension Parameter {
    /// Gives a non-trainable parameter (running statistics) its own buffer.
    public func place(on backend: Backend) throws {
        let b = try backend.buffer(count: shape.count)
        try backend.write(initial, to: b)
        buffer = b
    }
}
