import AtelierDevices

/// What the CPU versions of the padding and upsampling kernels share.
enum SpatialKernels {

    static func reflect(_ t: Int, _ n: Int) -> Int { t < 0 ? -t : (t >= n ? 2 * (n - 1) - t : t) }

    /// dx (planes, h, w) from dy (planes, ho, wo): each input the weighted sum
    /// of the outputs that read it, `rows[i]` and `cols[j]` listing those
    /// outputs with their weights along each axis (the gradients of padding
    /// and upsampling: a separable gather, so no two inputs write one value).
    static func gather(planes: Int, from dy: UnsafeMutablePointer<Float>, _ ho: Int, _ wo: Int,
                       into dx: UnsafeMutablePointer<Float>, _ h: Int, _ w: Int,
                       rows: [[(Int, Float)]], cols: [[(Int, Float)]]) {
        HostLoops.forEachPlane(planes, h * w) { plane in
            let (gp, out) = (dy + plane * ho * wo, dx + plane * h * w)
            for si in 0..<h {
                for sj in 0..<w {
                    var sum: Float = 0
                    for (oi, wr) in rows[si] {
                        var row: Float = 0
                        for (oj, wc) in cols[sj] { row += wc * gp[oi * wo + oj] }
                        sum += wr * row
                    }
                    out[si * w + sj] = sum
                }
            }
        }
    }
}
