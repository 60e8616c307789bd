from django.urls import path

from feedback.arena import api, pages

api_urlpatterns = [
    path("battles", api.BattleCreateApi.as_view(), name="battle-create"),
    path("battles/<str:battle_id>", api.BattleDetailApi.as_view(), name="battle-detail"),
    path("battles/<str:battle_id>/vote", api.BattleVoteApi.as_view(), name="battle-vote"),
    path("leaderboard", api.LeaderboardApi.as_view(), name="leaderboard"),
    path("leaderboard/refit", api.LeaderboardRefitApi.as_view(), name="leaderboard-refit"),
]

page_urlpatterns = [
    path("arena", pages.arena, name="arena"),
    path("arena/leaderboard", pages.leaderboard, name="leaderboard"),
    path("arena/<uuid:battle_id>", pages.battle_page, name="battle"),
    path("arena/<uuid:battle_id>/vote", pages.battle_vote, name="battle-vote"),
]
