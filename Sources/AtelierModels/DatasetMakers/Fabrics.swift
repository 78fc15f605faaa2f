import AtelierDevices
import AtelierGraph
import Foundation

/// Unpaired fabric domains for CycleGAN, made from Fashion-MNIST and a real
/// texture of GIMP's (gimp-data), in junyanz's unaligned layout: trainA/
/// and trainB/ from Fashion-MNIST's training split, testA/ and testB/ from
/// its test split, A and B from disjoint garments (even and odd indices),
/// so nothing is paired. A renders a garment in one plain colour (a hue
/// drawn per garment); B fills it with the texture at a random offset and
/// scale; both keep the garment's own shading and lie on white.
public struct Fabrics: Sendable {
    /// The side of the pictures made.
    public var size: Int
    /// The texture's name.
    public let patternName: String
    let texture: PixelImage

    /// The sides it makes.
    public static let sizes = [32, 64, 128, 256]

    /// A maker of `size` pictures in the GIMP pattern `pattern`, read from `directory`.
    public init(size: Int, pattern: String, directory: String = GimpPattern.defaultDirectory) throws {
        guard Self.sizes.contains(size) else {
            throw DatasetError("--size \(size): fabrics is made at \(Self.sizes.map(String.init).joined(separator: ", ")) pixels")
        }
        let names = try GimpPattern.list(directory)
        // "leopard" finds Animal/leopard; a full path below the folder is exact.
        guard let name = names.first(where: { $0.caseInsensitiveCompare(pattern) == .orderedSame })
                ?? names.first(where: { ($0 as NSString).lastPathComponent.caseInsensitiveCompare(pattern) == .orderedSame }) else {
            throw DatasetError("no pattern \(pattern) in \(directory); `atelier datasets fabrics --pattern list` shows the \(names.count) there")
        }
        self.size = size
        patternName = name
        texture = Resample.channels(try GimpPattern.read((directory as NSString).appendingPathComponent(name + ".pat")).picture, 3)
    }

    /// The garment's alpha and shading from its Fashion-MNIST pixels,
    /// enlarged to `size`: alpha rises from 0 at black to 1 at 1/8 of full
    /// brightness; shading is brightness relative to the garment's brightest.
    func alphaAndShading(_ garment28: ArraySlice<UInt8>) -> (alpha: [Float], shade: [Float]) {
        let big = Resample.resize(PixelImage(width: 28, height: 28, channels: 1, pixels: Array(garment28)), width: size, height: size)
        let peak = Float(max(big.pixels.max() ?? 1, 1))
        return (big.pixels.map { min(1, Float($0) / 32) }, big.pixels.map { 0.35 + 0.65 * Float($0) / peak })
    }

    /// A: the garment in one colour of hue `hue` (0..<1), shaded, on white.
    public func plain(_ garment28: ArraySlice<UInt8>, hue: Float) -> PixelImage {
        let (alpha, shade) = alphaAndShading(garment28)
        let colour = Self.rgb(hue: hue, saturation: 0.65, value: 0.95)
        return compose(alpha: alpha) { i, c in colour[c] * shade[i] }
    }

    /// B: the garment filled with the texture from (`x`, `y`) at `scale`
    /// texture pixels per image pixel, shaded, on white.
    public func textured(_ garment28: ArraySlice<UInt8>, x: Int, y: Int, scale: Float) -> PixelImage {
        let (alpha, shade) = alphaAndShading(garment28)
        let (w, h) = (texture.width, texture.height)
        return compose(alpha: alpha) { i, c in
            let (px, py) = (i % size, i / size)
            let tx = (x + Int(Float(px) * scale)) % w, ty = (y + Int(Float(py) * scale)) % h
            return Float(texture.pixels[(ty * w + tx) * 3 + c]) / 255 * shade[i] * 1.15
        }
    }

    private func compose(alpha: [Float], colour: (Int, Int) -> Float) -> PixelImage {
        var pixels = [UInt8](repeating: 255, count: size * size * 3)
        for i in 0..<(size * size) where alpha[i] > 0 {
            for c in 0..<3 {
                let v = alpha[i] * min(1, colour(i, c)) + (1 - alpha[i])
                pixels[i * 3 + c] = UInt8(max(0, min(255, (v * 255).rounded())))
            }
        }
        return PixelImage(width: size, height: size, channels: 3, pixels: pixels)
    }

    static func rgb(hue: Float, saturation s: Float, value v: Float) -> [Float] {
        let h = (hue - hue.rounded(.down)) * 6
        let f = h - h.rounded(.down)
        let (p, q, t) = (v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f)))
        switch Int(h) {
        case 0: return [v, t, p]
        case 1: return [q, v, p]
        case 2: return [p, v, t]
        case 3: return [p, q, v]
        case 4: return [t, p, v]
        default: return [v, p, q]
        }
    }

    /// Writes trainA/, trainB/, testA/, testB/ under `out` (the first
    /// `limit` garments of each, if given) and recipe.json. Each picture's
    /// random choices come from its own seeded generator.
    public func write(to out: String, fashionMNIST: String = FashionMNIST.defaultDirectory, limit: Int? = nil, seed: UInt64 = 0,
                      progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) throws {
        let splits = [("train", try FashionMNIST.load(directory: fashionMNIST, train: true)),
                      ("test", try FashionMNIST.load(directory: fashionMNIST, train: false))]
        func count(_ d: ImageDataset) -> Int { min((d.count + 1) / 2, limit ?? .max) }
        let total = splits.reduce(0) { $0 + 2 * count($1.1) }
        let done = Counter()
        let root = URL(fileURLWithPath: out)
        for (split, data) in splits {
            for domain in ["A", "B"] {
                let dir = root.appendingPathComponent(split + domain)
                do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
                    throw DatasetError("cannot create \(dir.path): \(FileErrorText.reason(error)); choose another --out")
                }
                // A takes the even garments, B the odd ones: the domains share none.
                let garments = stride(from: domain == "A" ? 0 : 1, to: data.count, by: 2).prefix(count(data)).map { $0 }
                let failures = Slots<Void>(count: garments.count)
                let width = String(data.count - 1).count
                DispatchQueue.concurrentPerform(iterations: garments.count) { k in
                    let i = garments[k]
                    var random = RandomGenerator(seed: seed &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15 &+ (split == "train" ? 0 : 1 << 40))
                    let pixels = data.images[i * 784..<(i + 1) * 784]
                    let picture = domain == "A"
                        ? plain(pixels, hue: random.uniform())
                        : textured(pixels, x: Int(random.next() % UInt64(texture.width)), y: Int(random.next() % UInt64(texture.height)),
                                   scale: (0.5 + random.uniform()) * 64 / Float(size))
                    let label = data.labels[i]
                    let name = String(repeating: "0", count: max(0, width - String(i).count)) + "\(i)_\(label)_\(Edges2Fashion.slug(data.classNames[label])).png"
                    failures.set(k, Result { try PNG.write(picture, to: dir.appendingPathComponent(name).path) })
                    progress(done.increment(), total)
                }
                for case .failure(let e)? in failures.values { throw DatasetError("writing \(dir.path) failed: \(e)") }
            }
        }
        let recipe: [String: Any] = [
            "source": fashionMNIST, "size": size, "pattern": patternName, "layout": "unaligned: trainA, trainB, testA, testB",
            "A": "the garment in one colour: hue uniform in [0, 1), saturation 0.65, value 0.95, times its shading",
            "B": "the garment filled with the texture (tiled, random offset, scale 0.5-1.5 x 64/size texture pixels per pixel), times its shading",
            "shading": "0.35 + 0.65 x brightness / the garment's brightest", "alpha": "min(1, brightness / 32), over white",
            "garments": "A: even indices, B: odd indices of each Fashion-MNIST split", "seed": seed,
        ]
        let json = try JSONSerialization.data(withJSONObject: recipe, options: [.prettyPrinted, .sortedKeys])
        try ImageFile.writeAtomically(json, to: root.appendingPathComponent("recipe.json").path)
    }
}
