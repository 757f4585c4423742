"""Loyalty service: points, rewards, promotions, vouchers and gift cards."""
