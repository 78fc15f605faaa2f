import AtelierDevices
import AtelierGraph
import Foundation

/// Canny's edge detector: Gaussian smoothing, Sobel gradients, thinning to
/// the ridge of the gradient (non-maximum suppression) and hysteresis (weak
/// edges are kept only where they connect to strong ones), the classic way
/// of drawing a picture's outlines; edges2shoes' sketches came from HED, a
/// learned detector in the same spirit.
public struct EdgeDetector: Sendable, Equatable, Codable {
    /// Standard deviation of the smoothing, in pixels.
    public var sigma: Double
    /// Hysteresis thresholds as fractions of the picture's largest gradient:
    /// edges start where the gradient passes `high` and continue while it
    /// stays above `low`.
    public var low: Double
    public var high: Double

    public init(sigma: Double, low: Double = 0.1, high: Double = 0.25) {
        self.sigma = sigma
        self.low = low
        self.high = high
    }

    /// Edge pixels of a gray picture (row-major, any range).
    public func edges(_ gray: [Float], width: Int, height: Int) -> [Bool] {
        precondition(gray.count == width * height)
        let smooth = blur(gray, width: width, height: height)
        func at(_ x: Int, _ y: Int) -> Float { smooth[min(max(y, 0), height - 1) * width + min(max(x, 0), width - 1)] }
        var magnitude = [Float](repeating: 0, count: gray.count)
        var direction = [UInt8](repeating: 0, count: gray.count)  // 0: -, 1: /, 2: |, 3: \ (of the gradient)
        for y in 0..<height {
            for x in 0..<width {
                let gx = (at(x + 1, y - 1) + 2 * at(x + 1, y) + at(x + 1, y + 1)) - (at(x - 1, y - 1) + 2 * at(x - 1, y) + at(x - 1, y + 1))
                let gy = (at(x - 1, y + 1) + 2 * at(x, y + 1) + at(x + 1, y + 1)) - (at(x - 1, y - 1) + 2 * at(x, y - 1) + at(x + 1, y - 1))
                magnitude[y * width + x] = (gx * gx + gy * gy).squareRoot()
                var angle = atan2(Double(gy), Double(gx)) * 180 / .pi
                if angle < 0 { angle += 180 }
                direction[y * width + x] = angle < 22.5 || angle >= 157.5 ? 0 : angle < 67.5 ? 1 : angle < 112.5 ? 2 : 3
            }
        }
        let peak = magnitude.max() ?? 0
        guard peak > 0 else { return [Bool](repeating: false, count: gray.count) }
        // Thin: keep a pixel only where it is a maximum across the edge.
        var thin = [Float](repeating: 0, count: gray.count)
        let across = [(1, 0), (1, 1), (0, 1), (-1, 1)]  // neighbour along the gradient, per direction
        for y in 0..<height {
            for x in 0..<width {
                let m = magnitude[y * width + x]
                let (dx, dy) = across[Int(direction[y * width + x])]
                func neighbour(_ s: Int) -> Float {
                    let (nx, ny) = (x + s * dx, y + s * dy)
                    return nx >= 0 && ny >= 0 && nx < width && ny < height ? magnitude[ny * width + nx] : 0
                }
                if m >= neighbour(1) && m > neighbour(-1) { thin[y * width + x] = m }
            }
        }
        let (lowCut, highCut) = (Float(low) * peak, Float(high) * peak)
        var edge = [Bool](repeating: false, count: gray.count)
        var stack = thin.indices.filter { thin[$0] >= highCut }
        for i in stack { edge[i] = true }
        while let i = stack.popLast() {
            let (x, y) = (i % width, i / width)
            for ny in max(0, y - 1)...min(height - 1, y + 1) {
                for nx in max(0, x - 1)...min(width - 1, x + 1) {
                    let j = ny * width + nx
                    if !edge[j] && thin[j] >= lowCut {
                        edge[j] = true
                        stack.append(j)
                    }
                }
            }
        }
        return edge
    }

    /// Separable Gaussian smoothing out to 3 sigma, edges clamped.
    func blur(_ values: [Float], width: Int, height: Int) -> [Float] {
        let radius = max(1, Int((3 * sigma).rounded(.up)))
        var kernel = (-radius...radius).map { Float(exp(-Double($0 * $0) / (2 * sigma * sigma))) }
        let total = kernel.reduce(0, +)
        kernel = kernel.map { $0 / total }
        var rows = [Float](repeating: 0, count: values.count)
        for y in 0..<height {
            for x in 0..<width {
                var s: Float = 0
                for k in -radius...radius { s += kernel[k + radius] * values[y * width + min(max(x + k, 0), width - 1)] }
                rows[y * width + x] = s
            }
        }
        var out = [Float](repeating: 0, count: values.count)
        for y in 0..<height {
            for x in 0..<width {
                var s: Float = 0
                for k in -radius...radius { s += kernel[k + radius] * rows[min(max(y + k, 0), height - 1) * width + x] }
                out[y * width + x] = s
            }
        }
        return out
    }
}
