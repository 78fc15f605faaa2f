import ArgumentParser
import Atelier

extension ModelKind: ExpressibleByArgument {}
extension GANLoss: ExpressibleByArgument {}
