/// A shape, size or argument that does not fit an op: thrown by every
/// layer from the device primitives up, with a message naming the op, the
/// shapes and what to change.
public struct ShapeError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }

    package static func expect(_ buffer: DeviceBuffer, count: Int, _ what: String) throws {
        guard buffer.count == count else {
            throw ShapeError("\(what) holds \(buffer.count) floats but the shape needs \(count)")
        }
    }

    /// OpenCL kernels index with 32-bit ints.
    static func expectIndexable(_ count: Int, _ what: String) throws {
        guard count <= Int(Int32.max) else {
            throw ShapeError("\(what) has \(count) elements, more than the 2^31-1 a kernel can index; use a smaller batch")
        }
    }
}
