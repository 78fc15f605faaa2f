import AtelierDevices
import AtelierGraph
/// The host's half of the image pool: how full it is, and each step's plan
/// drawn as junyanz's ImagePool.query draws it (store while not full; then
/// with probability 1/2 swap with a random stored image).
public struct ImagePoolPlan: Sendable, Equatable {
    public let size: Int
    /// Images stored so far (at most `size`).
    public private(set) var count = 0

    public init(size: Int, count: Int = 0) {
        self.size = size
        self.count = min(max(count, 0), size)
    }

    /// The plan for `samples` new images, [N, 2] flattened.
    public mutating func draw(_ samples: Int, random: inout RandomGenerator) -> [Float] {
        var plan: [Float] = []
        plan.reserveCapacity(samples * 2)
        for _ in 0..<samples {
            if size == 0 {
                plan += [-1, -1]
            } else if count < size {
                plan += [-1, Float(count)]
                count += 1
            } else if random.uniform() > 0.5 {
                let slot = Float(random.next() % UInt64(size))
                plan += [slot, slot]
            } else {
                plan += [-1, -1]
            }
        }
        return plan
    }
}
