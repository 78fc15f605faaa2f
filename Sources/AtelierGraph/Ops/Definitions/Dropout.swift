import AtelierDevices
/// Dropout whose mask is a pure function of (seed, salt, element): nothing
/// is stored, the gradient is the same op on dy (same seed, same mask), a
/// resumed run draws the same masks, and both backends compute the same
/// bits. Inputs x and the step's seed [2] (two 16-bit halves, see
/// `DropoutOp.seedValues`); `salt` tells the layers of one graph apart.
/// Kernel: Kernels/dropout.cl.
public struct DropoutOp: OpDefinition {
    public let probability: Float
    public let salt: Int

    public init(probability: Float, salt: Int) {
        self.probability = probability
        self.salt = salt
    }

    public var key: String { "dropout \(probability) \(salt)" }
    public var description: String { "dropout \(probability)" }

    /// The seed input's values for a step count.
    public static func seedValues(_ seed: UInt32) -> [Float] { [Float(seed & 0xFFFF), Float(seed >> 16)] }

    public func outputShapes(_ inputs: [Shape]) throws -> [Shape] {
        guard inputs.count == 2, inputs[1] == [2] else { throw ShapeError("takes x and the step's seed [2]") }
        guard (0..<1).contains(probability) else { throw ShapeError("the probability must lie in [0, 1)") }
        return [inputs[0]]
    }

    public func gradients(_ graph: Graph, inputs: [Tensor], outputs: [Tensor], dy: Tensor, wanted: [Bool]) throws -> [Tensor?] {
        guard !wanted[1] else { throw ShapeError("dropout's seed has no gradient; it must be an input") }
        return [try graph.apply(self, [dy, inputs[1]])[0], nil]
    }

    public func kernels(inputs: [DeviceBuffer], outputs: [DeviceBuffer], inputShapes: [Shape],
                        scratch: (Int) throws -> DeviceBuffer) throws -> [DeviceKernel] {
        let n = inputShapes[0].count
        let (p, salt) = (probability, UInt32(truncatingIfNeeded: salt))
        return [DeviceKernel(file: "dropout.cl", name: "dropout",
                             arguments: [.int(n), .int(Int(salt)), .float(p), .buffer(inputs[1]), .buffer(inputs[0]), .buffer(outputs[0])],
                             global: [n]) { a in
            let (seedValues, x, y) = (a.buffers[0], a.buffers[1], a.buffers[2])
            let seed = UInt32(seedValues[0]) | (UInt32(seedValues[1]) << 16)
            HostLoops.forEachElement(n) { i in
                y[i] = Self.keep(seed, salt, UInt32(truncatingIfNeeded: i), p) ? x[i] / (1 - p) : 0
            }
        }]
    }

    package static func mix(_ value: UInt32) -> UInt32 {
        var h = value
        h ^= h >> 16; h = h &* 0x7feb_352d
        h ^= h >> 15; h = h &* 0x846c_a68b
        h ^= h >> 16
        return h
    }

    /// dropout.cl's dropout_keep.
    static func keep(_ seed: UInt32, _ salt: UInt32, _ i: UInt32, _ probability: Float) -> Bool {
        let h = mix(mix(seed ^ mix(salt)) &+ i)
        return Float(h >> 8) * (1 / 16_777_216) >= probability
    }
}
