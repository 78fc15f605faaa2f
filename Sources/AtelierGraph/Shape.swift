import AtelierDevices
/// Dimensions of a tensor, outermost first (NCHW for images, [N, F] for
/// features, [] for a scalar).
public struct Shape: Hashable, Sendable, Codable, CustomStringConvertible, ExpressibleByArrayLiteral {
    /// The size of each axis.
    public var dims: [Int]

    /// A shape of `dims`.
    public init(_ dims: [Int]) { self.dims = dims }
    /// A shape written as an array, `[N, C, H, W]`.
    public init(arrayLiteral elements: Int...) { dims = elements }

    /// Elements in all.
    public var count: Int { dims.reduce(1, *) }
    /// Axes.
    public var rank: Int { dims.count }
    /// The size of `axis`.
    public subscript(_ axis: Int) -> Int { dims[axis] }
    /// `[2, 3]`.
    public var description: String { "[" + dims.map(String.init).joined(separator: ", ") + "]" }

    /// (outer, channels, inner) with channels on axis 1: [N, C] or
    /// [N, C, H, W] (inner = H*W). What bias and BatchNorm act on.
    var channelLayout: ChannelLayout? {
        guard rank >= 2 else { return nil }
        return ChannelLayout(outer: dims[0], channels: dims[1], inner: dims.dropFirst(2).reduce(1, *))
    }
}
