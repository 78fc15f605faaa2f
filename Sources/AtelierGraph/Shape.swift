import AtelierDevices
/// Dimensions of a tensor, outermost first (NCHW for images, [N, F] for
/// features, [] for a scalar).
public struct Shape: Hashable, Sendable, Codable, CustomStringConvertible, ExpressibleByArrayLiteral {
    public var dims: [Int]

    public init(_ dims: [Int]) { self.dims = dims }
    public init(arrayLiteral elements: Int...) { dims = elements }

    public var count: Int { dims.reduce(1, *) }
    public var rank: Int { dims.count }
    public subscript(_ axis: Int) -> Int { dims[axis] }
    public var description: String { "[" + dims.map(String.init).joined(separator: ", ") + "]" }

    /// (outer, channels, inner) with channels on axis 1: [N, C] or
    /// [N, C, H, W] (inner = H*W). What bias and BatchNorm act on.
    var channelLayout: ChannelLayout? {
        guard rank >= 2 else { return nil }
        return ChannelLayout(outer: dims[0], channels: dims[1], inner: dims.dropFirst(2).reduce(1, *))
    }
}
