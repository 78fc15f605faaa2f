import CAtelier

/// Convolutions whose whole batch has at most `maximumPixels` output
/// pixels and large weights (a U-Net's innermost levels at batch 1): their
/// time is the weights' memory traffic, so each pass reads or writes every
/// weight once, in place, split over the cores by weight rows or columns,
/// against transposed columns small enough to stay in cache
/// (cpu_conv_narrow.c). The other algorithms pack, permute or
/// Winograd-transform the weights on every call, which costs several times
/// the pass itself here (the 16 MB innermost layer took 4-10 ms, now ~1).
final class CPUNarrowConvolution {
    static let maximumPixels = 16
    /// Weights below this stay on the general paths (their passes are cheap).
    static let minimumWeights = 1 << 16

    static func applies(_ g: ConvGeometry) -> Bool {
        g.columnCols <= maximumPixels && g.weightCount >= minimumWeights
    }

    private var buffer = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private var capacity = 1

    deinit { buffer.deallocate() }

    /// Scratch for columns, their transpose and the product (kept between calls).
    private func scratch(_ g: ConvGeometry) -> (columns: UnsafeMutablePointer<Float>, transposed: UnsafeMutablePointer<Float>,
                                                product: UnsafeMutablePointer<Float>) {
        let columns = g.columnCount, product = g.outChannels * g.columnCols
        if capacity < 2 * columns + product {
            buffer.deallocate()
            capacity = 2 * columns + product
            buffer = .allocate(capacity: capacity)
        }
        return (buffer, buffer + columns, buffer + 2 * columns)
    }

    /// (CRS x NPQ) columns of x, transposed to (NPQ x CRS).
    private func transposedColumns(_ g: ConvGeometry, _ x: UnsafeMutablePointer<Float>, into s: (columns: UnsafeMutablePointer<Float>, transposed: UnsafeMutablePointer<Float>, product: UnsafeMutablePointer<Float>)) {
        var conv = CPULayout.geometry(g)
        atelier_im2col(&conv, x, s.columns, 0, g.columnRows)
        transpose(s.columns, rows: g.columnRows, columns: g.columnCols, into: s.transposed)
    }

    private func transpose(_ a: UnsafeMutablePointer<Float>, rows: Int, columns: Int, into b: UnsafeMutablePointer<Float>) {
        for r in 0..<rows { for c in 0..<columns { b[c * rows + r] = a[r * columns + c] } }
    }

    /// (N, K, PQ) <-> (K, N PQ).
    private func gatherOutput(_ g: ConvGeometry, _ y: UnsafeMutablePointer<Float>, into product: UnsafeMutablePointer<Float>) {
        let (k, pq, npq) = (g.outChannels, g.outHeight * g.outWidth, g.columnCols)
        for n in 0..<g.batch { for c in 0..<k { for i in 0..<pq { product[c * npq + n * pq + i] = y[(n * k + c) * pq + i] } } }
    }

    private func scatterOutput(_ g: ConvGeometry, _ product: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        let (k, pq, npq) = (g.outChannels, g.outHeight * g.outWidth, g.columnCols)
        for n in 0..<g.batch { for c in 0..<k { for i in 0..<pq { y[(n * k + c) * pq + i] = product[c * npq + n * pq + i] } } }
    }

    /// Rows of the weights per core slice: at least 64 KB of them.
    private func slice(_ rowFloats: Int) -> Int { max(1, (1 << 14) / max(rowFloats, 1)) }

    func forward(_ g: ConvGeometry, x: UnsafeMutablePointer<Float>, w: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>,
                 epilogue e: CPUEpilogue) {
        let s = scratch(g)
        transposedColumns(g, x, into: s)
        nonisolated(unsafe) let (w, t, product) = (w, s.transposed, s.product)
        let (npq, crs) = (g.columnCols, g.columnRows)
        Parallel.forEachSlice(g.outChannels, minimumSlice: slice(crs)) { rows in
            atelier_narrow_dot(rows.lowerBound, rows.upperBound, npq, crs, w, t, product)
        }
        scatterOutput(g, product, into: y)
        let pq = g.outHeight * g.outWidth
        if e.bias != nil || e.activation != 0 {
            atelier_epilogue(g.batch, g.outChannels, pq, g.outChannels * pq, y, e.bias, e.activation, e.parameter, e.activated)
        }
    }

    func backwardData(_ g: ConvGeometry, dy: UnsafeMutablePointer<Float>, w: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>,
                      epilogue e: CPUEpilogue) {
        let s = scratch(g)
        gatherOutput(g, dy, into: s.product)
        nonisolated(unsafe) let (w, t, coefficients) = (w, s.transposed, s.product)
        let (npq, crs, k) = (g.columnCols, g.columnRows, g.outChannels)
        Parallel.forEachSlice(crs, minimumSlice: 1 << 11) { columns in
            atelier_narrow_combine_columns(columns.lowerBound, columns.upperBound, k, npq, crs, w, coefficients, t)
        }
        transpose(s.transposed, rows: npq, columns: crs, into: s.columns)
        var conv = CPULayout.geometry(g)
        atelier_col2im(&conv, s.columns, dx, 0, g.inChannels)
        let plane = g.height * g.width
        if e.bias != nil || e.activation != 0 {
            atelier_epilogue(g.batch, g.inChannels, plane, g.inChannels * plane, dx, e.bias, e.activation, e.parameter, e.activated)
        }
    }

    func backwardWeights(_ g: ConvGeometry, x: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>, dw: UnsafeMutablePointer<Float>,
                         accumulate: Bool) {
        let s = scratch(g)
        transposedColumns(g, x, into: s)
        gatherOutput(g, dy, into: s.product)
        nonisolated(unsafe) let (dw, t, coefficients) = (dw, s.transposed, s.product)
        let (npq, crs) = (g.columnCols, g.columnRows)
        let beta: Float = accumulate ? 1 : 0
        Parallel.forEachSlice(g.outChannels, minimumSlice: slice(crs)) { rows in
            atelier_narrow_combine_rows(rows.lowerBound, rows.upperBound, npq, crs, coefficients, t, beta, dw)
        }
    }
}
