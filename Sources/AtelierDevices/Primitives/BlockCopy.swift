/// `blocks` runs of `length` floats: run i goes from
/// source[sourceOffset + i*sourceStride] to
/// destination[destinationOffset + i*destinationStride]. Concatenation
/// along channels is one copy per input; slicing is one copy.
public struct BlockCopy: Sendable, Hashable, CustomStringConvertible {
    public var blocks: Int
    public var length: Int
    public var sourceStride: Int
    public var sourceOffset: Int
    public var destinationStride: Int
    public var destinationOffset: Int

    public init(blocks: Int, length: Int, sourceStride: Int, sourceOffset: Int, destinationStride: Int, destinationOffset: Int) {
        self.blocks = blocks
        self.length = length
        self.sourceStride = sourceStride
        self.sourceOffset = sourceOffset
        self.destinationStride = destinationStride
        self.destinationOffset = destinationOffset
    }

    public var description: String {
        "\(blocks)x\(length) from +\(sourceOffset) step \(sourceStride) to +\(destinationOffset) step \(destinationStride)"
    }
}
