import Foundation

/// The plain reference every optimised path (the CPU path's tiles,
/// indirect and Winograd convolutions, and every OpenCL kernel) is tested
/// against: the simplest loops, sums in double precision; GEMMs, layouts
/// and reductions on one thread (elementwise formulas are the CPU path's
/// plain loops).
/// Convolutions and BatchNorm are the protocol's default composites (im2col
/// + GEMM; reductions + elementwise passes) over these primitives, so no
/// optimised code is on its path. Slow; `--device reference` runs training
/// on it to tell a numerical problem of an optimised path from one of the
/// model.
public final class ReferenceBackend: Backend {
    public let name = "reference"
    public let pool = BufferPool { try HostStorage(capacity: $0) }
    public let viewAlignment = 1

    public init() {}

    public func write(_ values: [Float], to buffer: DeviceBuffer) throws {
        try ShapeError.expect(buffer, count: values.count, "write")
        for i in values.indices { buffer.host[i] = values[i] }
    }

    public func read(_ buffer: DeviceBuffer) throws -> [Float] {
        (0..<buffer.count).map { buffer.host[$0] }
    }

    public func fill(_ buffer: DeviceBuffer, with value: Float) throws {
        for i in 0..<buffer.count { buffer.host[i] = value }
    }

    public func copy(_ source: DeviceBuffer, to destination: DeviceBuffer) throws {
        try ShapeError.expect(destination, count: source.count, "copy destination")
        for i in 0..<source.count { destination.host[i] = source.host[i] }
    }

    public func synchronize() throws {}

    public func view(of buffer: DeviceBuffer, offset: Int, count: Int) throws -> DeviceBuffer {
        try validateView(of: buffer, offset: offset, count: count)
        return buffer.hostView(offset: offset, count: count)
    }

    /// C = alpha op(A) op(B) + beta C, each element's sum in double.
    public func gemm(_ s: GemmShape, a: DeviceBuffer, b: DeviceBuffer, c: DeviceBuffer, epilogue: Epilogue?) throws {
        try s.validate(a: a, b: b, c: c)
        try epilogue?.validate(channels: s.n, count: s.cCount, "GEMM \(s)")
        let (A, B, C) = (a.host, b.host, c.host)
        // Stored layouts: A is [m, k] or, transposed, [k, m]; B [k, n] or [n, k].
        for i in 0..<s.m {
            for j in 0..<s.n {
                var sum = 0.0
                for p in 0..<s.k {
                    let x = s.transposeA ? A[p * s.m + i] : A[i * s.k + p]
                    let y = s.transposeB ? B[j * s.k + p] : B[p * s.n + j]
                    sum += Double(x) * Double(y)
                }
                let old = s.beta == 0 ? 0 : Double(s.beta) * Double(C[i * s.n + j])
                C[i * s.n + j] = Float(Double(s.alpha) * sum + old)
            }
        }
        try applyEpilogue(epilogue, layout: ChannelLayout(outer: s.m, channels: s.n, inner: 1), to: c)
    }

    /// Columns [(c, r, s), (n, p, q)]; zeros where a tap falls in the padding.
    public func im2col(_ g: ConvGeometry, image: DeviceBuffer, columns: DeviceBuffer) throws {
        try validateIm2col(g, image: image, columns: columns)
        forEachTap(g) { row, col, pixel in columns.host[row * g.columnCols + col] = pixel.map { image.host[$0] } ?? 0 }
    }

    /// The columns summed back into the image.
    public func col2im(_ g: ConvGeometry, columns: DeviceBuffer, image: DeviceBuffer) throws {
        try validateIm2col(g, image: image, columns: columns)
        var sums = [Double](repeating: 0, count: g.inputCount)
        forEachTap(g) { row, col, pixel in
            if let pixel { sums[pixel] += Double(columns.host[row * g.columnCols + col]) }
        }
        for i in sums.indices { image.host[i] = Float(sums[i]) }
    }

    /// Every (column row, column, image index or nil in the padding).
    private func forEachTap(_ g: ConvGeometry, _ body: (Int, Int, Int?) -> Void) {
        for c in 0..<g.inChannels {
            for r in 0..<g.kernelHeight {
                for s in 0..<g.kernelWidth {
                    let row = (c * g.kernelHeight + r) * g.kernelWidth + s
                    for n in 0..<g.batch {
                        for p in 0..<g.outHeight {
                            for q in 0..<g.outWidth {
                                let (y, x) = (p * g.strideH - g.padH + r, q * g.strideW - g.padW + s)
                                let col = (n * g.outHeight + p) * g.outWidth + q
                                let inside = y >= 0 && y < g.height && x >= 0 && x < g.width
                                body(row, col, inside ? ((n * g.inChannels + c) * g.height + y) * g.width + x : nil)
                            }
                        }
                    }
                }
            }
        }
    }

    public func copyBlocks(_ c: BlockCopy, from source: DeviceBuffer, to destination: DeviceBuffer) throws {
        try validateBlockCopy(c, from: source, to: destination)
        for block in 0..<c.blocks {
            for i in 0..<c.length {
                destination.host[c.destinationOffset + block * c.destinationStride + i] = source.host[c.sourceOffset + block * c.sourceStride + i]
            }
        }
    }

    public func swapAxes(a: Int, b: Int, inner: Int, input: DeviceBuffer, output: DeviceBuffer) throws {
        try validateSwap(a: a, b: b, inner: inner, input: input, output: output)
        for i in 0..<a { for j in 0..<b { for k in 0..<inner { output.host[(j * a + i) * inner + k] = input.host[(i * b + j) * inner + k] } } }
    }

    /// The elementwise formulas are the CPU path's (CPUPointwise: one plain
    /// loop per op, no tiles or fusion), which the OpenCL kernels are
    /// compared with through this backend.
    public func pointwise(_ op: PointwiseOp, layout: ChannelLayout, operands: [DeviceBuffer]) throws {
        try validatePointwise(op, layout: layout, operands: operands)
        CPUPointwise.run(op, layout: layout, operands.map(\.host))
    }

    public func reduce(_ op: ReduceOp, inputs: [DeviceBuffer], output: DeviceBuffer) throws {
        try validateReduce(op, inputs: inputs, output: output)
        let n = inputs[0].count
        let (a, b) = (inputs[0].host, inputs[op.arity - 1].host)
        var total = 0.0
        for i in 0..<n { total += op.term(a[i], b[i]) }
        output.host[0] = Float(op.divides ? total / Double(n) : total)
    }

    public func reduceChannels(_ op: ChannelReduceOp, layout: ChannelLayout, scale: Float,
                               elements: [DeviceBuffer], channels: [DeviceBuffer], output: DeviceBuffer) throws {
        try validateChannelReduce(op, layout: layout, elements: elements, channels: channels, output: output)
        let (a, b) = (elements[0].host, elements[elements.count - 1].host)
        for c in 0..<layout.channels {
            let u = Double(channels.first?.host[c] ?? 0), v = Double(channels.last?.host[c] ?? 0)
            var sum = 0.0
            for n in 0..<layout.outer {
                for j in 0..<layout.inner {
                    let i = (n * layout.channels + c) * layout.inner + j
                    let (x, y) = (Double(a[i]), Double(b[i]))
                    switch op {
                    case .sum: sum += x
                    case .centeredSquares: sum += (x - u) * (x - u)
                    case .normalizedProduct: sum += y * (x - u) * v
                    }
                }
            }
            output.host[c] = Float(Double(scale) * sum)
        }
    }

    public func run(_ kernel: DeviceKernel) throws {
        kernel.runOnHost()
    }
}
